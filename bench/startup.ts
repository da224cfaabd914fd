/**
 * Start-up time of the CLI, against `node -e 0` (Node's own start) measured in the same run.
 *
 *   node --import tsx bench/startup.ts [--runs 30] [--baseline /path/to/other/checkout]
 *
 * For --version and --help: wall time from spawn to exit. For a command: wall time from spawn
 * until it starts its work (the line MARKETER_DEBUG=startup prints just before the command's
 * action runs), then the process is stopped. Medians of --runs runs, after two warm-up runs so
 * the file cache is warm for every case alike. Run `npx tsc -p tsconfig.json` first (the CLI
 * runs from dist/). With --baseline, the same cases run against another built checkout (say, the
 * commit before a change) too, alternating run by run (ABAB), so both see the same machine load.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { CLI, ROOT } from './lib.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 30;
const baselineArg = process.argv.indexOf('--baseline');
const BASELINE = baselineArg > 0 ? path.resolve(process.argv[baselineArg + 1]!) : undefined;

interface Case {
  name: string;
  args: string[];
  /** Stop at this stderr line instead of waiting for exit. */
  until?: RegExp;
  env?: Record<string, string>;
  /** Where to run it (default: this checkout). */
  cwd?: string;
}

const cases: Case[] = [
  { name: 'node -e 0 (baseline)', args: ['-e', '0'] },
  { name: 'marketer --version', args: [CLI, '--version'] },
  { name: 'marketer --help', args: [CLI, '--help'] },
  { name: 'marketer stats --help', args: [CLI, 'stats', '--help'] },
  // A database that is never reached: the clock stops when the command starts its work.
  { name: 'marketer stats 1 (to first work)', args: [CLI, 'stats', '1'], until: /^startup: /m, env: { DATABASE_URL: 'postgres://127.0.0.1:9/none' } },
  { name: 'marketer send (to first work)', args: [CLI, 'send', 'campaigns/weekly.yaml', '--dry-run'], until: /^startup: /m, env: { DATABASE_URL: 'postgres://127.0.0.1:9/none' } },
];

/** The case run by the CLI of another checkout (its bin/ and dist/), in that checkout. */
function against(c: Case, root: string): Case {
  return { ...c, args: c.args.map((a) => (a === CLI ? path.join(root, 'bin', 'marketer.js') : a)), cwd: root };
}

function once(c: Case): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, c.args, {
      cwd: c.cwd ?? ROOT,
      env: { ...process.env, ...c.env, MARKETER_DEBUG: c.until ? 'startup' : '', NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve(Number(process.hrtime.bigint() - started) / 1e6);
    };
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (c.until?.test(err)) {
        finish();
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      if (c.until && !done) reject(new Error(`${c.name}: exited (${code}) before starting work:\n${err}`));
      else finish();
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

interface Result { name: string; median: number; min: number; p90: number }
const summary = (name: string, times: number[]): Result => {
  const sorted = [...times].sort((a, b) => a - b);
  return { name, median: median(times), min: sorted[0]!, p90: sorted[Math.floor(sorted.length * 0.9)]! };
};
const results: Result[] = [];
const baseline: Result[] = [];
for (const c of cases) {
  const other = BASELINE && c.args.includes(CLI) ? against(c, BASELINE) : undefined;
  for (const x of other ? [c, other, c, other] : [c, c]) await once(x);
  const times: number[] = [];
  const otherTimes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    times.push(await once(c));
    if (other) otherTimes.push(await once(other));
  }
  results.push(summary(c.name, times));
  if (other) baseline.push(summary(c.name, otherTimes));
}
const base = results[0]!.median;
const load = () => execFileSync('uptime', { encoding: 'utf8' }).trim().replace(/.*load average/, 'load average');
console.log(`runs per case: ${RUNS}; node ${process.version}; ${load()}`);
const f = (ms: number) => `${ms.toFixed(0)} ms`.padStart(9);
const table = (title: string, rows: Result[]) => {
  console.log(`\n${title}`);
  console.log(`${'case'.padEnd(36)} ${'median'.padStart(9)} ${'min'.padStart(9)} ${'p90'.padStart(9)} ${'over node'.padStart(10)}`);
  for (const r of rows) console.log(`${r.name.padEnd(36)} ${f(r.median)} ${f(r.min)} ${f(r.p90)} ${`+${(r.median - base).toFixed(0)} ms`.padStart(10)}`);
};
table(`this checkout (${ROOT})`, results);
if (BASELINE) {
  table(`baseline (${BASELINE}), run alternately with the above`, [results[0]!, ...baseline]);
  console.log('\nratio this/baseline (median):');
  for (const b of baseline) {
    const r = results.find((x) => x.name === b.name)!;
    console.log(`${b.name.padEnd(36)} ${(r.median / b.median).toFixed(2).padStart(9)}`);
  }
}
