import { planTestLines } from './format-experiment.js';
import chalk from 'chalk';
import type { CampaignCounts } from '../sending/ledger.js';
import type { DispatchResult, DispatchStatus } from '../sending/dispatch.js';
import { groupErrors, type ErrorGroup } from '../error-groups.js';
import type { PausedCampaign } from '../sending/policy/campaign-pauses.js';
import type { PlanResult } from '../sending/plan-campaign.js';
import { table } from './output.js';
import { byCount, fitList, formatNumber, formatRate, plural, terminalWidth, wrapProse } from './format.js';

export function formatPlan(p: PlanResult): string {
  const lines: string[] = [];
  const say = (text: string, indent = 2) => lines.push(wrapProse(text, indent));
  say(chalk.bold(`Campaign ${p.campaign}: ${p.name}`) + chalk.dim(`  (${p.file})`));
  const ex = p.excluded;
  lines.push(`Audience: ${plural(p.audience, 'subscriber')}`);
  say(chalk.dim(`  excluded: ${formatNumber(ex.not_matching)} not matching tags, ${formatNumber(ex.unsubscribed)} unsubscribed, ${formatNumber(ex.bounced)} bounced, ${formatNumber(ex.complained)} complained, ${formatNumber(ex.suppressed)} suppressed${ex.sunset ? `, ${formatNumber(ex.sunset)} sunset` : ''}`), 4);
  if (p.conditions.length > 0) {
    say(chalk.dim('  conditions, in order (removed of those the ones above left):'), 4);
    for (const c of p.conditions) say(`    ${formatNumber(c.removed).padStart(7)} ${c.segment ? `${c.segment}: ` : ''}${c.condition}`, 12);
  }
  if (p.already_enqueued > 0) {
    say(`Already enqueued: ${formatNumber(p.already_enqueued)} (status ${p.status}); sending again would add ${plural(p.would_enqueue, 'new subscriber')} and mail nobody twice.`);
  }
  lines.push('');
  if (p.waves.length === 0) lines.push('No waves: nobody to send to.');
  else lines.push(wavesTable(p.waves));
  if (p.late > 0 || p.skipped > 0) {
    lines.push('');
    if (p.late > 0) say(chalk.yellow(`${formatNumber(p.late)} would be sent late (their wave time has passed).`));
    if (p.skipped > 0) say(chalk.red(`${formatNumber(p.skipped)} would be skipped (more than late_grace late, late: skip).`));
  }
  if (p.warmup && p.warmup.length > 1) {
    lines.push('');
    say(chalk.yellow(`Warm-up cap: the waves spill over ${plural(p.warmup.length, 'day')} (the cap is shared by every campaign):`));
    lines.push(table([['day (UTC)', 'cap', 'this campaign'], ...p.warmup.map((d) => [d.day, formatNumber(d.cap), formatNumber(d.sends)])], { header: true }));
  }
  if (p.test) {
    lines.push('');
    for (const line of planTestLines(p.test)) say(line);
  }
  lines.push('');
  say(`Quota (${p.quota.transport}): ${p.quota.fits ? chalk.green('ok') : chalk.red('problem')}, ${p.quota.detail}`);
  lines.push('Checks:');
  for (const c of p.checks) say(`  ${!c.ok ? chalk.red('✗') : c.warning ? chalk.yellow('!') : chalk.green('✓')} ${c.name}: ${c.detail}`, 4);
  return lines.join('\n');
}

/** The waves, one line each, within the terminal's width: the zone lists give way ("+3"). */
function wavesTable(waves: PlanResult['waves']): string {
  const rows = waves.map((w) => ({
    local: w.local_time.replace('T', ' '),
    fire: w.fire_at.replace('T', ' ').replace(':00Z', 'Z'),
    count: formatNumber(w.count),
    flag: w.skipped ? 'skipped (late)' : w.late ? 'late' : '',
    zones: w.timezones,
  }));
  const header = ['local time', 'fires at (UTC)', 'zones', 'recipients', ''];
  const widest = (key: 'local' | 'fire' | 'count' | 'flag', title: string) => Math.max(title.length, ...rows.map((r) => r[key].length));
  const others = widest('local', header[0]!) + widest('fire', header[1]!) + widest('count', header[3]!) + widest('flag', '');
  const flagGap = rows.some((r) => r.flag) ? 2 : 0;
  const zonesWidth = Math.max(header[2]!.length, terminalWidth() - others - 6 - flagGap);
  return table([
    header,
    ...rows.map((r) => [r.local, r.fire, fitList(r.zones, zonesWidth), r.count, r.flag === 'late' ? chalk.yellow(r.flag) : r.flag ? chalk.red(r.flag) : '']),
  ], { header: true });
}

export function formatStatus(s: DispatchStatus, counts?: { queued: number }): string {
  const parts = [`sent ${formatNumber(s.sent)}`];
  if (counts) parts.push(`queued ${formatNumber(counts.queued)}`);
  parts.push(`failed ${formatNumber(s.failed)}`);
  if (s.unknown) parts.push(`unknown ${formatNumber(s.unknown)}`);
  if (s.skipped) parts.push(`skipped ${formatNumber(s.skipped)}`);
  parts.push(formatRate(s.achieved));
  if (s.throttled) parts.push(`throttled ${formatNumber(s.throttled)}× (now ${formatRate(s.rate)})`);
  if (s.waiting && s.nextWave) parts.push(`next wave ${s.nextWave.toISOString().replace(/:\d\d\.\d{3}Z$/, 'Z')}`);
  return parts.join(' · ');
}

/** When the warm-up cap held deliveries back: one line saying so, else undefined. */
export function formatWarmup(w: DispatchResult['warmup']): string | undefined {
  if (!w || !w.capped || w.heldBack === 0) return undefined;
  return `Warm-up cap reached for ${w.day} (${formatNumber(w.used)} of ${formatNumber(w.cap)} a day, all campaigns together): ${plural(w.heldBack, 'due delivery', 'due deliveries')} ${byCount(w.heldBack, 'waits', 'wait')} for tomorrow (UTC); "marketer dispatch" then sends them.`;
}

/** Error groups at most this many are listed one per line; the rest are counted together. */
const LISTED_ERRORS = 5;

/** "10 failed: MessageRejected: …", one line per error, most frequent first. */
export function formatErrors(groups: ErrorGroup[], prefix = ''): string[] {
  const lines = groups.slice(0, LISTED_ERRORS).map((g) => `${prefix}${formatNumber(g.count)} failed: ${g.error}`);
  const rest = groups.slice(LISTED_ERRORS);
  if (rest.length > 0) {
    const n = rest.reduce((a, g) => a + g.count, 0);
    lines.push(`${prefix}${formatNumber(n)} failed with ${plural(rest.length, 'other error')} (--json lists them all)`);
  }
  return lines;
}

/** A run's failures over several campaigns: "campaign 7: 10 failed: …", per campaign. */
export function formatCampaignErrors(errors: DispatchResult['errors']): string[] {
  return [...new Set(errors.map((e) => e.campaign))].flatMap((id) => formatErrors(errors.filter((e) => e.campaign === id), `campaign ${id}: `));
}

/** This run's failures of one campaign (or of every campaign), as {error, count} groups. */
export function runErrors(result: Pick<DispatchResult, 'errors'>, campaignId?: number): ErrorGroup[] {
  return groupErrors(result.errors.filter((e) => campaignId === undefined || e.campaign === campaignId));
}

/** One line for a campaign a pause rule or breaker stopped. */
export function formatPause(p: PausedCampaign): string {
  const by = p.breaker === 'bounce' ? ' by the bounce breaker' : p.breaker === 'complaint' ? ' by the complaint breaker' : p.breaker === 'account' ? ' (account-wide)' : '';
  return `campaign ${p.campaign} paused${by}: ${p.reason}`;
}

export function formatCounts(c: CampaignCounts): string {
  return table([
    ['enqueued', formatNumber(c.enqueued)],
    ['sent', formatNumber(c.sent)],
    ['queued', formatNumber(c.queued + c.sending)],
    ['failed', formatNumber(c.failed)],
    ['unknown', formatNumber(c.unknown)],
    ['skipped', formatNumber(c.skipped)],
  ]);
}
