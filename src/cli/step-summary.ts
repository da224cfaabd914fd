import { appendFile } from 'node:fs/promises';
import type { ChangedCampaigns } from '../campaigns/changed-campaigns.js';
import type { ErrorGroup } from '../error-groups.js';
import type { PlanResult } from '../sending/plan-campaign.js';
import { formatNumber, plural } from './format.js';
import { waveChart } from './wave-chart.js';

/**
 * Markdown reports for a CI job page ($GITHUB_STEP_SUMMARY). Reviewers read these on the pull
 * request, so they say what would happen in words, and never hold a secret (no URLs with
 * credentials, no addresses of subscribers).
 */

/** `--summary <file>` wins; `--no-summary` turns it off; else $GITHUB_STEP_SUMMARY when set. */
export function summaryTarget(flag: string | boolean | undefined): string | undefined {
  if (flag === false) return undefined;
  if (typeof flag === 'string' && flag !== '') return flag;
  return process.env.GITHUB_STEP_SUMMARY || undefined;
}

/** Append (GitHub concatenates the summaries of every step, so never overwrite). */
export async function writeSummary(flag: string | boolean | undefined, markdown: string): Promise<void> {
  const file = summaryTarget(flag);
  if (!file) return;
  await appendFile(file, markdown.endsWith('\n\n') ? markdown : `${markdown.trimEnd()}\n\n`);
}

/** Text for a table cell or inline use: no pipes, line breaks or HTML. */
export function md(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/[|\\`*_<>[\]]/g, (c) => `\\${c}`);
}

/** A path or name in a code span, where backslash escapes do not work (except \| in tables). */
export function code(text: string): string {
  return `\`${text.replace(/[\r\n`]+/g, ' ').replace(/\|/g, '\\|')}\``;
}

const sha = (s: string) => code(s.slice(0, 12));

function changedLines(changed: ChangedCampaigns | undefined): string[] {
  if (!changed) return [];
  const lines: string[] = [];
  if (changed.campaigns.length === 0) lines.push(`No campaign changed since ${sha(changed.base)}.`);
  else {
    lines.push(`${plural(changed.campaigns.length, 'campaign')} changed since ${sha(changed.base)}:`);
    lines.push('');
    for (const c of changed.campaigns) {
      const how = c.change === 'renamed' ? `renamed from ${code(c.from ?? '?')}`
        : c.change === 'template' ? `its template changed (${(c.via ?? []).map(code).join(', ')})`
        : c.change === 'segment' ? `its segment changed (${(c.via ?? []).map(code).join(', ')})`
          : c.change;
      lines.push(`- ${code(c.relFile)}: ${how}`);
    }
  }
  if (changed.deleted.length > 0) {
    lines.push('');
    lines.push(`Removed (nothing is sent for them): ${changed.deleted.map(code).join(', ')}`);
  }
  lines.push('');
  return lines;
}

function problemLines(problems: string[]): string[] {
  if (problems.length === 0) return [];
  return [
    `**${plural(problems.length, 'problem')}** (fix these before merging):`,
    '',
    '```',
    ...problems,
    '```',
    '',
  ];
}

export interface ValidatedCampaign {
  id: number;
  name: string;
  file: string;
  template: string;
  links: number;
}

export function validateSummary(o: { campaigns: ValidatedCampaign[]; problems: string[]; warnings: string[]; changed?: ChangedCampaigns }): string {
  const ok = o.problems.length === 0;
  const lines = [`## ${ok ? '✅' : '❌'} marketer validate`, '', ...changedLines(o.changed)];
  lines.push(...problemLines(o.problems));
  if (o.campaigns.length > 0) {
    lines.push('| id | campaign | file | template | links |', '| ---: | --- | --- | --- | ---: |');
    for (const c of o.campaigns) lines.push(`| ${c.id} | ${md(c.name)} | ${code(c.file)} | ${code(c.template)} | ${c.links} |`);
    lines.push('');
  }
  for (const w of o.warnings) lines.push(`> ⚠️ ${md(w)}`, '');
  return lines.join('\n');
}

export interface PlanSummaryInput {
  plans: PlanResult[];
  /** Campaign id → file name of its rendered preview in the artifact. */
  previews?: Map<number, string>;
  problems?: string[];
  changed?: ChangedCampaigns;
}

export function planSummary(o: PlanSummaryInput): string {
  const problems = o.problems ?? [];
  const lines = [`## ${problems.length > 0 ? '❌' : '📬'} marketer plan`, '', ...changedLines(o.changed), ...problemLines(problems)];
  for (const p of o.plans) {
    lines.push(`### Campaign ${p.campaign}: ${md(p.name)}`, '', `${code(p.file)}`, '');
    const ex = p.excluded;
    lines.push(`**Audience: ${plural(p.audience, 'subscriber')}** (excluded: ${formatNumber(ex.not_matching)} not matching tags, ${formatNumber(ex.unsubscribed)} unsubscribed, ${formatNumber(ex.bounced)} bounced, ${formatNumber(ex.complained)} complained, ${formatNumber(ex.suppressed)} suppressed${ex.sunset ? `, ${formatNumber(ex.sunset)} sunset` : ''})`, '');
    if (p.conditions.length > 0) {
      lines.push('| removed | left | condition |', '| ---: | ---: | --- |');
      for (const c of p.conditions) lines.push(`| ${formatNumber(c.removed)} | ${formatNumber(c.remaining)} | ${md(`${c.segment ? `${c.segment}: ` : ''}${c.condition}`)} |`);
      lines.push('');
    }
    if (p.already_enqueued > 0) {
      lines.push(`Already enqueued: ${formatNumber(p.already_enqueued)} (status ${p.status ?? 'unknown'}); sending again adds ${formatNumber(p.would_enqueue)} and mails nobody twice.`, '');
    }
    if (p.waves.length === 0) lines.push('No waves: nobody to send to.', '');
    else {
      lines.push(...waveChart(p.waves));
      lines.push('| local time | fires at (UTC) | zones | recipients | |', '| --- | --- | --- | ---: | --- |');
      for (const w of p.waves) {
        const zones = w.timezones.length > 4 ? `${w.timezones.slice(0, 4).join(', ')} +${w.timezones.length - 4}` : w.timezones.join(', ');
        lines.push(`| ${w.local_time.replace('T', ' ')} | ${w.fire_at.replace('T', ' ')} | ${md(zones)} | ${formatNumber(w.count)} | ${w.skipped ? 'skipped (late)' : w.late ? 'late' : ''} |`);
      }
      lines.push('');
    }
    if (p.late > 0) lines.push(`⚠️ ${formatNumber(p.late)} would be sent late (their wave time has passed).`, '');
    if (p.skipped > 0) lines.push(`⚠️ ${formatNumber(p.skipped)} would be skipped (more than late_grace late).`, '');
    if (p.warmup && p.warmup.length > 1) {
      lines.push(`⏳ **Warm-up cap**: the waves spill over ${plural(p.warmup.length, 'day')} (the cap is shared by every campaign).`, '', '| day (UTC) | cap | this campaign |', '| --- | ---: | ---: |');
      for (const d of p.warmup) lines.push(`| ${d.day} | ${formatNumber(d.cap)} | ${formatNumber(d.sends)} |`);
      lines.push('');
    }
    lines.push(`**Quota** (${md(p.quota.transport)}): ${p.quota.fits ? '✅' : '❌'} ${md(p.quota.detail)}`, '');
    lines.push('**Checks**', '');
    for (const c of p.checks) lines.push(`- ${!c.ok ? '❌' : c.warning ? '⚠️' : '✅'} ${md(c.name)}: ${md(c.detail)}`);
    lines.push('');
    const preview = o.previews?.get(p.campaign);
    if (preview) lines.push(`Rendered preview (sample subscriber): ${code(preview)} in the workflow run's preview artifact.`, '');
  }
  return lines.join('\n');
}

export interface SentCampaign {
  campaign: number;
  name: string;
  file: string;
  enqueued: number;
  sent: number;
  this_run: { sent: number; failed: number };
  queued: number;
  failed: number;
  unknown: number;
  status: string | null;
  /** Why a pause rule or breaker paused it during this run. */
  paused?: string;
  /** What the warm-up cap held back for tomorrow, in words. */
  heldBack?: string;
  /** This run's failed deliveries, grouped by error. */
  errors?: ErrorGroup[];
}

export interface RefusedCampaign {
  campaign: number | null;
  file: string;
  code: string;
  message: string;
  details: string[];
  hint: string | null;
}

export function sendSummary(o: { sent: SentCampaign[]; refused: RefusedCampaign[]; changed?: ChangedCampaigns; stopped?: string; problems?: string[] }): string {
  const problems = o.problems ?? [];
  const bad = o.refused.length > 0 || Boolean(o.stopped) || problems.length > 0 || o.sent.some((s) => s.paused || s.this_run.failed > 0);
  const lines = [`## ${bad ? '❌' : '🚀'} marketer send`, '', ...changedLines(o.changed), ...problemLines(problems)];
  if (problems.length > 0) lines.push('Nothing was enqueued or sent.', '');
  if (o.sent.length > 0) {
    lines.push('| id | campaign | file | enqueued | sent this run | sent in all | waiting for later waves | failed | status |', '| ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |');
    for (const s of o.sent) {
      lines.push(`| ${s.campaign} | ${md(s.name)} | ${code(s.file)} | ${formatNumber(s.enqueued)} | ${formatNumber(s.this_run.sent)} | ${formatNumber(s.sent)} | ${formatNumber(s.queued)} | ${formatNumber(s.failed)} | ${s.status ?? ''} |`);
    }
    lines.push('');
    if (o.sent.some((s) => s.queued > 0)) lines.push('Later waves are sent by the scheduled `marketer dispatch`.', '');
    if (o.sent.some((s) => s.enqueued > 0 && s.this_run.sent === 0 && s.queued === 0)) {
      lines.push('A campaign already sent is not sent again: the ledger holds one delivery per subscriber.', '');
    }
  }
  for (const s of o.sent) {
    if (s.paused) lines.push(`**Paused: campaign ${s.campaign}** ${md(s.paused)}. Fix the cause, then run \`marketer send\` again to resume.`, '');
    if (s.errors && s.errors.length > 0) lines.push(...errorLines(`campaign ${s.campaign}`, s.errors));
    if (s.heldBack) lines.push(`⏳ Campaign ${s.campaign}: ${md(s.heldBack)}`, '');
  }
  for (const r of o.refused) {
    lines.push(`**Refused${r.campaign === null ? '' : `: campaign ${r.campaign}`}** (${code(r.file)}): ${md(r.message)}`, '');
    for (const d of r.details) lines.push(`- ${md(d)}`);
    if (r.details.length > 0) lines.push('');
    if (r.hint) lines.push(`> ${md(r.hint)}`, '');
  }
  if (o.stopped) lines.push(`**Sending stopped:** ${md(o.stopped)}. The rest stays queued.`, '');
  return lines.join('\n');
}

/** A run's failures in the step summary: a bold head, then one list item per error. */
export function errorLines(what: string, errors: ErrorGroup[]): string[] {
  const n = errors.reduce((a, e) => a + e.count, 0);
  return [`**Failed: ${what}**, ${plural(n, 'delivery')} (not retried):`, '', ...errors.map((e) => `- ${formatNumber(e.count)} × ${md(e.error)}`), ''];
}
