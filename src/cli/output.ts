import chalk from 'chalk';
import type { Ora } from 'ora';
import type { Progress } from '../progress.js';
import { visibleLength, wrapProse } from './format.js';
import { progressText, RateWindow, type Reading } from './progress-meter.js';
import { loadPackage } from '../load-package.js';

/** Global output mode for one command run. In JSON mode stdout carries exactly one document. */
export interface Output {
  json: boolean;
  /** Human lines go to stdout normally, to stderr in JSON mode (so stdout stays one document). */
  info(line: string): void;
  warn(line: string): void;
  printJson(value: unknown): void;
  /** A spinner/progress line on a terminal; silent otherwise. */
  progress(label: string): Progress & { done(): void };
  /** A progress line with count, total, share, pace and ETA (see progress-meter.ts). */
  meter(label: string, unit: string): Meter;
}

export interface Meter {
  update(r: Reading): void;
  done(): void;
}

export function createOutput(json: boolean, options: { quiet?: boolean } = {}): Output {
  const interactive = Boolean(process.stderr.isTTY) && !process.env.CI;
  const logProgress = !options.quiet;
  const output: Output = {
    json,
    meter: (label, unit) => meterOn(output.progress(label), unit),
    info(line) {
      if (json) return;
      // A sentence wraps to the terminal, its later lines indented under it; a block of several
      // lines (a table) is laid out already.
      process.stdout.write(`${line.includes('\n') ? line : wrapProse(line, /^ */.exec(line)![0].length + 2)}\n`);
    },
    warn(line) {
      process.stderr.write(`${wrapProse(`${chalk.yellow('warning')} ${line}`, 2, process.stderr)}\n`);
    },
    printJson(value) {
      process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    },
    progress(label) {
      let spinner: Ora | undefined;
      let text = label;
      let finished = false;
      // discardStdin puts the terminal in raw mode, so ^C no longer raises SIGINT, and only a
      // 'data' listener on a flowing stdin would re-raise it; ora's never makes stdin flow, so
      // Ctrl-C was swallowed until the spinner stopped. With the terminal left alone, Ctrl-C
      // stops the run at once. ora is loaded only for a terminal, and only once a spinner is
      // wanted, so that no command waits for it before starting its work.
      if (interactive) {
        void loadPackage<typeof import('ora')>('ora').then(({ default: ora }) => {
          if (!finished) spinner = ora({ text, stream: process.stderr, discardStdin: false }).start();
        });
      }
      // Without a terminal (CI logs, cron mail) a spinner is noise, but a long send --wait must
      // still show it is alive: one plain line on stderr every 30 s at most.
      let lastLine = performance.now();
      return {
        update(t: string) {
          text = `${label} ${t}`;
          if (spinner) spinner.text = text;
          else if (!interactive && logProgress && performance.now() - lastLine >= plainLineMs()) {
            lastLine = performance.now();
            process.stderr.write(`${text}\n`);
          }
        },
        done() {
          finished = true;
          spinner?.stop();
        },
      };
    },
  };
  return output;
}

/** Seconds between plain progress lines without a terminal: MARKETER_PROGRESS_SECONDS, else 30. */
function plainLineMs(): number {
  const s = Number(process.env.MARKETER_PROGRESS_SECONDS);
  return (Number.isFinite(s) && s >= 0 && process.env.MARKETER_PROGRESS_SECONDS !== '' ? s : 30) * 1000;
}

/** A progress line for `label` that counts `unit`s, keeping the pace over the last seconds. */
function meterOn(progress: Progress & { done(): void }, unit: string): Meter {
  const pace = new RateWindow();
  return {
    update(r) {
      pace.add(r.done);
      progress.update(progressText(r, unit, pace.perSecond()));
    },
    done: () => progress.done(),
  };
}

/** A plain aligned table (no borders), for summaries. */
export function table(rows: (string | number)[][], options: { header?: boolean } = {}): string {
  const cells = rows.map((r) => r.map((c) => String(c)));
  const widths: number[] = [];
  for (const r of cells) r.forEach((c, i) => { widths[i] = Math.max(widths[i] ?? 0, visibleLength(c)); });
  return cells
    .map((r, ri) => {
      const line = r
        .map((c, i) => {
          const pad = (widths[i] ?? 0) - visibleLength(c);
          const numeric = /^-?[\d,.]+%?$/.test(c) && i > 0;
          return numeric ? ' '.repeat(pad) + c : c + ' '.repeat(pad);
        })
        .join('  ')
        .trimEnd();
      return options.header && ri === 0 ? chalk.bold(line) : line;
    })
    .join('\n');
}

export { formatNumber } from './format.js';
