import type { WinnerDecision } from '../experiments/decide-due-tests.js';
import type { PlanTest } from '../experiments/plan-test.js';
import type { TestState, VariantStats } from '../experiments/variant-stats.js';
import { formatDuration, formatNumber, formatPercent, plural } from './format.js';
import { table } from './output.js';

const metricName = (m: TestState['metric']) => (m === 'clicks' ? 'unique click rate' : 'unique open rate');
const utc = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;

/** What `send`, `dispatch` and `stats` say about a campaign's A/B test, one sentence a line. */
export function testLines(t: TestState): string[] {
  const setup = `A/B test: ${t.variants.join(', ')} on ${formatPercent(t.share, 0)} of the audience, by ${metricName(t.metric)}; ${t.default} is the default.`;
  if (t.winner === null) {
    const when = t.decideAt ? ` when the rest comes due (${utc(t.decideAt)})` : '';
    return [setup, `The winner is chosen${when}, ${formatDuration(t.decideAfterSeconds)} after the test share; ${plural(t.waiting, 'delivery', 'deliveries')} ${t.waiting === 1 ? 'waits' : 'wait'} for it.`];
  }
  const at = t.decidedAt ? ` (chosen ${utc(t.decidedAt)}${t.decidedBy ? ` by ${t.decidedBy}` : ''})` : '';
  return [setup, `Winner: ${t.winner}${at}. ${t.note ?? ''}`.trim()];
}

/** Per-variant rows for `stats`: every delivery of the variant, and its test share. */
export function variantTable(variants: VariantStats[]): string {
  const c = formatNumber;
  return table([
    ['  Variant', 'Rcpts', 'Sent', 'Deliv', 'Opened', 'Clicked', 'Click rate', 'In test', 'Test clicks'],
    ...variants.map((v) => [
      `  ${v.name}${v.winner ? ' ★' : ''}`,
      c(v.recipients), c(v.sent), c(v.delivered), c(v.opened), c(v.clicked), formatPercent(v.rates.click),
      c(v.test.recipients), `${c(v.test.clicked)} (${formatPercent(v.test.rates.click)})`,
    ]),
  ], { header: true });
}

/** A decision this run made (dispatch, send). */
export function decisionLine(d: WinnerDecision): string {
  return `Campaign ${d.campaign}: A/B test winner ${d.winner}, now going to ${plural(d.assigned, 'waiting delivery', 'waiting deliveries')}. ${d.note}`;
}

export function decisionJson(d: WinnerDecision) {
  return { campaign: d.campaign, winner: d.winner, reason: d.reason, metric: d.metric, note: d.note, assigned: d.assigned, figures: d.figures, z: d.z, p: d.p, significant: d.significant };
}

/** `plan`: the variants, the test share and when the winner is chosen. */
export function planTestLines(t: PlanTest): string[] {
  const lines = [`A/B test: ${formatPercent(t.share, 0)} of the audience (${plural(t.test_recipients, 'subscriber')}) split across ${t.variants.length} variants; the other ${formatNumber(t.rest_recipients)} get the winner by ${metricName(t.metric)}.`];
  for (const v of t.variants) lines.push(`  ${v.name}${v.name === t.default ? ' (default)' : ''}: ${formatNumber(v.test_recipients)} in the test; subject "${v.subject}", template ${v.template}`);
  if (t.winner !== null) lines.push(`Winner already chosen: ${t.winner}. ${t.note ?? ''}`.trim());
  else {
    if (t.test_starts_at) lines.push(`The test share goes out from ${utc(t.test_starts_at)} (${formatDuration(t.decide_after_seconds)} before each wave).`);
    if (t.decide_at) lines.push(`The winner is chosen when the rest comes due, ${utc(t.decide_at)}; a tie or too few events choose ${t.default}.`);
  }
  return lines;
}
