import { readFileSync } from 'node:fs';
import chalk from 'chalk';
import type { Command } from 'commander';
import { DateTime } from 'luxon';
import { parseDocument } from 'yaml';
import { isValidZone } from '../../config/config.js';
import { inputError } from '../../errors.js';
import { campaignStats, listCampaignStats, type CampaignStats } from '../../reports/campaign-stats.js';
import { parseSinceTime } from '../../reports/parse-since.js';
import { commandContext, withDatabase, type CommandContext } from '../context.js';
import { formatNumber, table } from '../output.js';

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

/** `2026-12-01`, `2026-12-01T08:00` (in the viewer's zone), or a look-back like `24h`, `7d`. */
export function parseSince(value: string, tz: string, now = new Date()): Date {
  const since = parseSinceTime(value, tz, now);
  if (!since) throw inputError('BAD_SINCE', `--since "${value}" is not a date, a time or a look-back (from 1970 to 9999).`, { hint: 'Use e.g. 2026-12-01, 2026-12-01T08:00, 24h or 7d.' });
  return since;
}

const pct = (r: number | null, digits = 1) => (r === null ? '–' : `${(r * 100).toFixed(digits)}%`);

function printStats(ctx: CommandContext, s: CampaignStats): void {
  const out = (l = '') => ctx.out.info(l);
  const hot = (metric: 'bounce' | 'complaint', text: string) => {
    const alert = s.alerts.find((a) => a.metric === metric);
    if (!alert) return text;
    return alert.level === 'critical' ? chalk.bold.red(text) : chalk.yellow(text);
  };
  out(`${chalk.bold(`Campaign ${s.campaign}`)} · ${s.name} ${chalk.dim(`(${s.status})`)}${s.since ? chalk.dim(` · events since ${DateTime.fromISO(s.since, { zone: s.timezone }).toFormat('yyyy-LL-dd HH:mm ZZZZ')}`) : ''}`);
  out();
  const f = formatNumber;
  out(
    table([
      ['Recipients', f(s.recipients), ''],
      ['Sent', f(s.sent), ''],
      ['Delivered', f(s.delivered), `${pct(s.rates.delivery)} of sent`],
      ['Bounced (hard)', hot('bounce', f(s.bounced.hard)), hot('bounce', `${pct(s.rates.bounce, 2)} of sent`)],
      ['Bounced (soft)', f(s.bounced.soft), 'transient bounce events'],
      ['Complained', hot('complaint', f(s.complained)), hot('complaint', `${pct(s.rates.complaint, 2)} of delivered`)],
      ['Unsubscribed', f(s.unsubscribed), ''],
      ['Opens', `${f(s.opens.unique)} unique`, `${pct(s.rates.open)} of delivered · ${f(s.opens.total)} total`],
      ['Clicks', `${f(s.clicks.unique)} unique`, `${pct(s.rates.click)} of delivered · ${f(s.clicks.total)} total · ${pct(s.rates.clickToOpen)} click-to-open`],
      ['Failed', f(s.failed), ''],
      ['Unknown', f(s.unknown), s.unknown > 0 ? 'outcome unknown (timeout); settled by the SES Send event' : ''],
      ['Skipped', f(s.skipped), s.skipped > 0 ? `${f(s.skippedBreakdown.late)} late wave, ${f(s.skippedBreakdown.suppressed)} suppressed` : ''],
      ...(s.queued + s.sending > 0 ? [['Still to send', f(s.queued + s.sending), '']] : []),
    ].map((r) => ['  ' + r[0], ...r.slice(1)])),
  );
  for (const a of s.alerts) {
    out();
    const label = a.level === 'critical' ? chalk.bold.red('✖ critical') : chalk.yellow('! warning');
    out(`${label} ${a.metric} rate ${pct(a.rate, 2)} (threshold ${pct(a.threshold, 1)}). ${a.advice}`);
  }
  if (s.links.length > 0) {
    out();
    out(chalk.bold('Top links'));
    out(table([['  URL', 'Unique', 'Total'], ...s.links.map((l) => [`  ${l.url.length > 70 ? `${l.url.slice(0, 69)}…` : l.url}`, f(l.unique), f(l.total)])], { header: true }));
  }
  if (s.waves.length > 0) {
    out();
    out(chalk.bold('Waves'));
    out(
      table(
        [
          ['  Zone', 'Due (wave time)', 'Recipients', 'Sent', 'Delivered', 'Opened', 'Clicked', 'Bounced', 'Skipped', 'Failed'],
          ...s.waves.map((w) => [
            `  ${w.timezone}`,
            w.dueAt ? DateTime.fromISO(w.dueAt, { zone: w.timezone }).toFormat('LLL dd HH:mm') : '–',
            f(w.recipients), f(w.sent), f(w.delivered), f(w.opened), f(w.clicked), f(w.bounced), f(w.skipped), f(w.failed),
          ]),
        ],
        { header: true },
      ),
    );
  }
  if (s.timeline.length > 0) {
    out();
    out(`${chalk.bold('Opens and clicks by hour')} ${chalk.dim(`(${s.timezone}; ${chalk.cyan('█')} opens, ${chalk.magenta('█')} clicks)`)}`);
    const max = Math.max(1, ...s.timeline.map((h) => Math.max(h.opens, h.clicks)));
    const width = 40;
    const bar = (v: number) => {
      const cells = (v / max) * width;
      const full = Math.floor(cells);
      const part = ' ▏▎▍▌▋▊▉'[Math.round((cells - full) * 8)] ?? '';
      return '█'.repeat(full) + (part.trim() ? part : v > 0 && full === 0 ? '▏' : '');
    };
    let lastDay = '';
    for (const h of s.timeline) {
      const dt = DateTime.fromISO(h.hour, { setZone: true });
      const day = dt.toFormat('LLL dd');
      const label = `${day === lastDay ? '      ' : day} ${dt.toFormat('HH:mm')}`;
      lastDay = day;
      out(`  ${chalk.dim(label)} ${chalk.cyan(bar(h.opens).padEnd(width))} ${String(h.opens).padStart(6)}`);
      if (h.clicks > 0) out(`  ${' '.repeat(label.length)} ${chalk.magenta(bar(h.clicks).padEnd(width))} ${String(h.clicks).padStart(6)}`);
    }
  }
}

export function registerStats(program: Command): void {
  program
    .command('stats')
    .description('Campaign results: deliveries, bounces, complaints, opens, clicks, links, waves, hourly timeline')
    .argument('[campaign]', 'campaign id or campaign YAML file (none: list every campaign)')
    .option('--json', 'print one JSON document')
    .option('--since <when>', 'count events from this time on: 2026-12-01, 2026-12-01T08:00 (in --tz) or a look-back like 24h, 7d')
    .option('--tz <zone>', 'time zone for the timeline and --since (default: this machine\'s)')
    .addHelpText(
      'after',
      `
Bounce and complaint rates at the lines mailbox providers use (hard bounces 5%, complaints
0.1% / 0.3%) are highlighted with advice.

Examples:
  $ marketer stats
  $ marketer stats 42
  $ marketer stats campaigns/weekly.yaml --tz Europe/Berlin --since 24h
  $ marketer stats 42 --json | jq .rates
`,
    )
    .action(async (ref: string | undefined, opts: { since?: string; tz?: string }, cmd: Command) => {
      const ctx = commandContext(cmd);
      const tz = opts.tz ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC';
      if (!isValidZone(tz)) throw inputError('BAD_TZ', `--tz "${tz}" is not an IANA time zone.`, { hint: 'Use e.g. Europe/Berlin, America/New_York or UTC.' });
      const campaignId = ref === undefined ? undefined : campaignIdOf(ref);
      const since = opts.since === undefined ? undefined : parseSince(opts.since, tz);
      await withDatabase(ctx, async ({ db }) => {
        if (campaignId === undefined) {
          const list = await listCampaignStats(db);
          if (ctx.out.json) {
            ctx.out.printJson(list);
            return;
          }
          if (list.campaigns.length === 0) ctx.out.info('No campaigns yet. Send one with "marketer send campaigns/<file>.yaml".');
          else {
            ctx.out.info(
              table(
                [
                  ['ID', 'Name', 'Status', 'Recipients', 'Sent', 'Delivered', 'Open', 'Click', 'Bounce', 'Complaint'],
                  ...list.campaigns.map((c) => [
                    String(c.campaign), c.name, c.status, formatNumber(c.recipients), formatNumber(c.sent), formatNumber(c.delivered),
                    pct(c.rates.open), pct(c.rates.click),
                    c.rates.bounce !== null && c.rates.bounce >= 0.05 ? chalk.red(pct(c.rates.bounce, 2)) : pct(c.rates.bounce, 2),
                    c.rates.complaint !== null && c.rates.complaint >= 0.001 ? chalk.red(pct(c.rates.complaint, 2)) : pct(c.rates.complaint, 2),
                  ]),
                ],
                { header: true },
              ),
            );
          }
          if (list.unmatchedEvents > 0) ctx.out.info(chalk.dim(`\n${formatNumber(list.unmatchedEvents)} stored events match no campaign delivery (mail marketer did not send).`));
          return;
        }
        const stats = await campaignStats(db, campaignId, { timezone: tz, since });
        if (ctx.out.json) ctx.out.printJson(stats);
        else printStats(ctx, stats);
      });
    });
}
