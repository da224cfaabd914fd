import { readFileSync } from 'node:fs';
import chalk from 'chalk';
import type { Command } from 'commander';
import { parseDocument } from 'yaml';
import { isValidZone, machineZone } from '../../config/time-zones.js';
import { inputError } from '../../errors.js';
import { testLines, variantTable } from '../format-experiment.js';
import { campaignStats, listCampaignStats, type CampaignStats } from '../../reports/campaign-stats.js';
import { monthDayTime, localParts, weekdayMonthDay } from '../../reports/local-time.js';
import { commandContext, withDatabase, type CommandContext } from '../context.js';
import { bar, byCount, plural, formatCount, formatNumber, formatPercent, sparkline, terminalWidth, truncate, wrapText } from '../format.js';
import { formatStopTime } from '../account-gate.js';
import { formatErrors } from '../format-sending.js';
import { table } from '../output.js';
import { loadPackage } from '../../load-package.js';

/** `42` or a campaign file whose top-level `id:` names it. */
export function campaignIdOf(ref: string): number {
  if (/^\d{1,9}$/.test(ref)) return Number(ref);
  let text: string;
  try {
    text = readFileSync(ref, 'utf8');
  } catch (err) {
    throw inputError('CAMPAIGN_REF', `"${ref}" is neither a campaign id nor a readable campaign file.`, { cause: err, hint: 'Pass the numeric id (marketer stats 42) or the YAML file (marketer stats campaigns/weekly.yaml).' });
  }
  const doc = parseDocument(text);
  const id: unknown = doc.errors.length === 0 ? doc.get('id') : undefined;
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 1) {
    throw inputError('CAMPAIGN_REF', `${ref} has no top-level numeric "id:".`, { hint: 'Every campaign file starts with e.g. "id: 42".' });
  }
  return id;
}

/**
 * `2026-12-01`, `2026-12-01T08:00` (in the viewer's zone), or a look-back like `24h`, `7d`.
 * Loaded with --since only: it needs luxon, which a plain `stats` does without.
 */
export async function parseSince(value: string, tz: string, now = new Date()): Promise<Date> {
  const { parseSinceTime } = await import('../../reports/parse-since.js');
  const since = parseSinceTime(value, tz, now);
  if (!since) throw inputError('BAD_SINCE', `--since "${value}" is not a date, a time or a look-back (from 1970 to 9999).`, { hint: 'Use e.g. 2026-12-01, 2026-12-01T08:00, 24h or 7d.' });
  return since;
}

const pct = (r: number | null, digits = 1) => formatPercent(r, digits);

/** A zone short enough for a table column: the city part when the whole name is long. */
export function shortZone(zone: string, width = 16): string {
  return truncate(zone.length <= width ? zone : (zone.split('/').pop() ?? zone), width);
}

function accountStopLine(stop: NonNullable<CampaignStats['accountStop']>): string {
  return `The SES account has been stopped since ${formatStopTime(new Date(stop.since))}: ${stop.reason}. Every campaign waits; marketer send lifts the stop once GetAccount shows the account can send.`;
}

/** `2026-12-01 08:00 CET`: when --since starts, in the viewer's zone. */
async function sinceLabel(s: CampaignStats): Promise<string> {
  // luxon (and with it ICU's date data) only for this line, which only --since prints.
  const { DateTime } = await loadPackage<typeof import('luxon')>('luxon');
  return DateTime.fromISO(s.since!, { zone: s.timezone }).toFormat('yyyy-LL-dd HH:mm ZZZZ');
}

function printStats(ctx: CommandContext, s: CampaignStats, sinceText?: string): void {
  const out = (l = '') => ctx.out.info(l);
  const width = Math.min(terminalWidth(), 80);
  const hot = (metric: 'bounce' | 'complaint', text: string) => {
    const alert = s.alerts.find((a) => a.metric === metric);
    if (!alert) return text;
    return alert.level === 'critical' ? chalk.bold.red(text) : chalk.yellow(text);
  };
  const since = sinceText ? ` · events since ${sinceText}` : '';
  out(wrapText(`${chalk.bold(`Campaign ${s.campaign}`)} · ${s.name} ${chalk.dim(`(${s.status})${since}`)}`, width, 2));
  if (s.status === 'paused' && s.pausedReason) out(chalk.yellow(`Paused: ${s.pausedReason}. Run marketer send on its file to resume.`));
  if (s.accountStop) out(chalk.red(wrapText(accountStopLine(s.accountStop), width, 2)));
  const held = s.heldByWarmup;
  if (held) out(chalk.yellow(`Held back by the warm-up cap: ${plural(held.due, 'due delivery', 'due deliveries')} ${byCount(held.due, 'waits', 'wait')} for tomorrow (${formatNumber(held.used)} of ${formatNumber(held.cap)} sent on ${held.day}, all campaigns together).`));
  out();
  const f = formatNumber;
  // The funnel as bars: every step against the recipients.
  const steps: [string, number, string][] = [
    ['Recipients', s.recipients, ''],
    ['Sent', s.sent, ''],
    ['Delivered', s.delivered, `${pct(s.rates.delivery)} of sent`],
    ['Opened', s.opens.unique, `${pct(s.rates.open)} of delivered`],
    ['Clicked', s.clicks.unique, `${pct(s.rates.click)} of delivered`],
  ];
  const numWidth = Math.max(...steps.map(([, v]) => f(v).length));
  const barWidth = width - 2 - 10 - 2 - numWidth - 2 - 20 - 2;
  for (const [label, v, note] of steps) {
    out(`  ${label.padEnd(10)}  ${f(v).padStart(numWidth)}  ${chalk.cyan(bar(v, s.recipients, barWidth).padEnd(barWidth))}  ${chalk.dim(note)}`.trimEnd());
  }
  out();
  out(
    table([
      ['Bounced (hard)', hot('bounce', f(s.bounced.hard)), hot('bounce', `${pct(s.rates.bounce, 2)} of sent`)],
      ['Bounced (soft)', f(s.bounced.soft), 'transient bounce events'],
      ['Complained', hot('complaint', f(s.complained)), hot('complaint', `${pct(s.rates.complaint, 2)} of delivered`)],
      ['Unsubscribed', f(s.unsubscribed), ''],
      ['Opens', f(s.opens.total), 'in total'],
      ['Clicks', f(s.clicks.total), `in total · ${pct(s.rates.clickToOpen)} click-to-open`],
      ['Failed', f(s.failed), ''],
      ['Unknown', f(s.unknown), s.unknown > 0 ? 'timed out; settled by the SES Send event' : ''],
      ['Skipped', f(s.skipped), s.skipped > 0 ? `${f(s.skippedBreakdown.late)} late wave, ${f(s.skippedBreakdown.suppressed)} suppressed` : ''],
      ...(s.sunset ? [['Sunset', f(s.sunset), 'left out: no open or click in sunset_after']] : []),
      ...(s.queued + s.sending > 0 ? [['Still to send', f(s.queued + s.sending), '']] : []),
    ].map((r) => ['  ' + r[0], ...r.slice(1)])),
  );
  if (s.test) {
    out();
    for (const line of testLines(s.test)) out(wrapText(line, width, 2));
    if (s.variants.length > 0) out(variantTable(s.variants));
  }
  if (s.errors.length > 0) {
    out();
    out(chalk.bold('Failed deliveries') + chalk.dim(' (not retried)'));
    for (const line of formatErrors(s.errors)) out(chalk.red(`  ${wrapText(line, width - 2, 4)}`));
  }
  for (const a of s.alerts) {
    out();
    const label = a.level === 'critical' ? chalk.bold.red('✖ critical') : chalk.yellow('! warning');
    out(wrapText(`${label} ${a.metric} rate ${pct(a.rate, 2)} (threshold ${pct(a.threshold, 1)}). ${a.advice}`, width, 2));
  }
  if (s.links.length > 0) {
    out();
    out(chalk.bold('Top links'));
    const nums = s.links.flatMap((l) => [formatCount(l.unique), formatCount(l.total)]);
    const urlWidth = width - 2 - 2 * (2 + Math.max(6, ...nums.map((x) => x.length)));
    out(table([['  URL', 'Unique', 'Total'], ...s.links.map((l) => [`  ${truncate(l.url, urlWidth)}`, formatCount(l.unique), formatCount(l.total)])], { header: true }));
  }
  if (s.waves.length > 0) {
    out();
    out(chalk.bold('Waves') + chalk.dim(' (local send time in each zone)'));
    const c = formatCount;
    out(
      table(
        [
          ['  Zone', 'Local time', 'Rcpts', 'Deliv', 'Opened', 'Click', 'Bounce', 'Unsent'],
          ...s.waves.map((w) => [
            `  ${shortZone(w.timezone)}`,
            w.dueAtLocal ? monthDayTime(w.dueAtLocal) : '–',
            c(w.recipients), c(w.delivered), c(w.opened), c(w.clicked), c(w.bounced), c(w.skipped + w.failed + w.unknown),
          ]),
        ],
        { header: true },
      ),
    );
  }
  if (s.timeline.length > 0) {
    out();
    out(`${chalk.bold('Opens and clicks by hour')} ${chalk.dim(`(${s.timezone})`)}`);
    printTimeline(out, s.timeline);
  }
}

/**
 * One line per day and series, one column per local hour (00 to 23): quiet hours are "·",
 * busier ones ▁ to █ against the busiest hour. 50 columns whatever the campaign's size.
 */
function printTimeline(out: (l?: string) => void, timeline: CampaignStats['timeline']): void {
  const days = new Map<string, { opens: (number | undefined)[]; clicks: (number | undefined)[] }>();
  for (const h of timeline) {
    const label = weekdayMonthDay(h.hour);
    const { hour } = localParts(h.hour);
    const day = days.get(label) ?? { opens: Array<number | undefined>(24).fill(undefined), clicks: Array<number | undefined>(24).fill(undefined) };
    // The repeated hour of a DST fall-back adds to the same column.
    day.opens[hour] = (day.opens[hour] ?? 0) + h.opens;
    day.clicks[hour] = (day.clicks[hour] ?? 0) + h.clicks;
    days.set(label, day);
  }
  const max = Math.max(1, ...timeline.map((h) => Math.max(h.opens, h.clicks)));
  const row = (values: (number | undefined)[]) => values.map((v) => (v === undefined ? ' ' : sparkline([v], max))).join('');
  const total = (values: (number | undefined)[]) => values.reduce<number>((a, v) => a + (v ?? 0), 0);
  out(chalk.dim(`  ${' '.repeat(10)}  ${'0'.padEnd(6)}${'6'.padEnd(6)}${'12'.padEnd(6)}${'18'.padEnd(6)}  total`));
  for (const [day, v] of days) {
    out(`  ${day}  ${chalk.cyan(row(v.opens))}  ${formatNumber(total(v.opens)).padStart(5)} opens`);
    if (total(v.clicks) > 0) out(`  ${' '.repeat(10)}  ${chalk.magenta(row(v.clicks))}  ${formatNumber(total(v.clicks)).padStart(5)} clicks`);
  }
}

export async function statsAction(ref: string | undefined, opts: { since?: string; tz?: string }, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  const tz = opts.tz ?? machineZone();
  if (!isValidZone(tz)) throw inputError('BAD_TZ', `--tz "${tz}" is not an IANA time zone.`, { hint: 'Use e.g. Europe/Berlin, America/New_York or UTC.' });
  const campaignId = ref === undefined ? undefined : campaignIdOf(ref);
  const since = opts.since === undefined ? undefined : await parseSince(opts.since, tz);
  await withDatabase(ctx, async ({ db }) => {
    if (campaignId === undefined) {
      const list = await listCampaignStats(db);
      if (ctx.out.json) {
        ctx.out.printJson(list);
        return;
      }
      if (list.campaigns.length === 0) ctx.out.info('No campaigns yet. Send one with "marketer send campaigns/<file>.yaml".');
      else {
        // Everything but the name is at most ~50 columns; the name gets the rest of 80.
        const nameWidth = Math.max(12, Math.min(terminalWidth(), 80) - 54);
        ctx.out.info(
          table(
            [
              ['ID', 'Name', 'Status', 'Sent', 'Open', 'Click', 'Bounce', 'Compl.'],
              ...list.campaigns.map((c) => [
                String(c.campaign), truncate(c.name, nameWidth), c.status, formatCount(c.sent),
                pct(c.rates.open), pct(c.rates.click),
                c.rates.bounce !== null && c.rates.bounce >= 0.05 ? chalk.red(pct(c.rates.bounce, 2)) : pct(c.rates.bounce, 2),
                c.rates.complaint !== null && c.rates.complaint >= 0.001 ? chalk.red(pct(c.rates.complaint, 2)) : pct(c.rates.complaint, 2),
              ]),
            ],
            { header: true },
          ),
        );
      }
      if (list.unmatchedEvents > 0) ctx.out.info(chalk.dim(`\n${plural(list.unmatchedEvents, 'stored event')} ${byCount(list.unmatchedEvents, 'matches', 'match')} no campaign delivery (mail marketer did not send).`));
      return;
    }
    const stats = await campaignStats(db, campaignId, { timezone: tz, since });
    if (ctx.out.json) ctx.out.printJson(stats);
    else printStats(ctx, stats, stats.since ? await sinceLabel(stats) : undefined);
  });
}
