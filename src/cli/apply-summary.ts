import type { ApplyCampaignsResult } from '../apply/apply-campaigns.js';
import type { ApplyRange } from '../apply/apply-range.js';
import type { ChangedCampaigns } from '../campaigns/changed-campaigns.js';
import type { DispatchResult } from '../sending/dispatch.js';
import { formatNumber, plural } from './format.js';
import { code, errorLines, md } from './step-summary.js';

export interface ApplySummaryInput {
  range: ApplyRange;
  changed: ChangedCampaigns | undefined;
  result: ApplyCampaignsResult;
  problems: string[];
  recordedAfter: string | undefined;
  dispatch: DispatchResult | undefined;
  due: number | undefined;
  plan: boolean;
}

const sha = (s: string) => code(s.slice(0, 12));

/** The job page's report of one `marketer apply` (or `apply --plan`). */
export function applySummary(o: ApplySummaryInput): string {
  const r = o.result;
  const bad = o.problems.length > 0 || r.refused.length > 0 || Boolean(o.dispatch?.stopped) || (o.dispatch?.failed ?? 0) > 0
    || (o.dispatch?.paused.length ?? 0) > 0;
  const lines = [`## ${bad ? '❌' : o.plan ? '📬' : '🚀'} marketer apply${o.plan ? ' --plan' : ''}`, ''];
  if (o.range.from === 'behind') lines.push(`HEAD ${sha(o.range.head)} is older than ${sha(o.range.base)}, already applied on ${code(o.range.branch)}: nothing to apply.`, '');
  else {
    const from = o.range.from === 'applied' ? 'the last applied commit' : '`--since`';
    lines.push(`Branch ${code(o.range.branch)}: ${sha(o.range.base)}..${sha(o.range.head)} (from ${from}).`, '');
  }
  if (o.changed && o.changed.campaigns.length === 0) lines.push('No campaign changed in this range.', '');
  if (o.problems.length > 0) {
    lines.push(`**${plural(o.problems.length, 'problem')}**; nothing new was ${o.plan ? 'planned' : 'applied'}, and the next run tries again:`, '', '```', ...o.problems, '```', '');
  }
  if (r.applied.length > 0) {
    lines.push(`| id | campaign | file | change | ${o.plan ? 'would enqueue' : 'enqueued'} |`, '| ---: | --- | --- | --- | ---: |');
    for (const a of r.applied) lines.push(`| ${a.campaign} | ${md(a.name)} | ${code(a.file)} | ${a.change} | ${formatNumber(a.enqueued)} |`);
    lines.push('');
  }
  for (const m of r.missed) {
    lines.push(`**Missed: campaign ${m.campaign}** (${code(m.file)}): its last wave was due ${m.lastWave.toISOString()}, more than its late_grace before it was first applied (late: skip). Not sent.`, '');
  }
  for (const x of r.refused) {
    lines.push(`**Refused: campaign ${x.campaign}** (${code(x.file)}): ${md(x.error.message)}`, '');
    for (const d of x.error.details) lines.push(`- ${md(d)}`);
    if (x.error.details.length > 0) lines.push('');
    if (x.error.hint) lines.push(`> ${md(x.error.hint)}`, '');
  }
  if (!o.plan && o.recordedAfter) lines.push(`Applied commit on ${code(o.range.branch)}: ${sha(o.recordedAfter)}.`, '');
  if (o.dispatch) {
    const d = o.dispatch;
    lines.push(`Dispatched: ${formatNumber(d.sent)} sent, ${formatNumber(d.failed)} failed${d.unknown ? `, ${formatNumber(d.unknown)} unknown` : ''}${d.skipped ? `, ${formatNumber(d.skipped)} skipped (late)` : ''}.`, '');
    for (const id of new Set(d.errors.map((e) => e.campaign))) lines.push(...errorLines(`campaign ${id}`, d.errors.filter((e) => e.campaign === id)));
    for (const p of d.paused) lines.push(`**Paused: campaign ${p.campaign}** ${md(p.reason)}. Fix the cause, then run \`marketer send\` on its file to resume.`, '');
    if (d.stopped) lines.push(`**Sending stopped:** ${md(d.stopped.message)}. The rest stays queued.`, '');
  } else if (o.due !== undefined) lines.push(`Due now: ${plural(o.due, 'delivery')} would be dispatched.`, '');
  return lines.join('\n');
}
