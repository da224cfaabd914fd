import path from 'node:path';
import chalk from 'chalk';
import type { Command } from 'commander';
import { checkCampaigns, compileActivity, compileCampaign, compileCampaigns, formatProblem } from '../../campaigns/index.js';
import { inputError, isMarketerError } from '../../errors.js';
import { campaignsChangedSince, changedJson } from '../changed-since.js';
import { commandContext, sendsNothing } from '../context.js';
import { validateSummary, writeSummary } from '../step-summary.js';
import { plural } from '../format.js';

interface CampaignResult {
  id: number;
  name: string;
  file: string;
  template: string;
  contentHash: string;
  links: number;
  /** MJML's output came from .marketer/cache: the template was not compiled again. */
  cached: boolean;
  warnings: string[];
}

export async function validateAction(paths: string[], opts: { changedSince?: string; summary?: string | boolean }, cmd: Command): Promise<void> {
  const ctx = sendsNothing(commandContext(cmd));
  const changed = opts.changedSince === undefined ? undefined : await campaignsChangedSince(ctx, paths, opts.changedSince);
  if (changed && changed.campaigns.length === 0) {
    await writeSummary(opts.summary, validateSummary({ campaigns: [], problems: [], warnings: [], changed }));
    if (ctx.out.json) ctx.out.printJson({ ok: true, campaigns: [], warnings: [], changed: changedJson(changed) });
    return;
  }
  const files = changed ? changed.campaigns.map((c) => c.file) : paths.map((p) => path.resolve(p));
  const report = await checkCampaigns(files, ctx.config);
  const lines = report.problems.map(formatProblem);
  const ok: CampaignResult[] = [];
  const outcomes = await compileCampaigns(report.campaigns, ctx.config);
  report.campaigns.forEach((campaign, i) => {
    const outcome = outcomes[i]!;
    if (!outcome.ok) {
      if (!isMarketerError(outcome.error) || outcome.error.code !== 'CAMPAIGN_INVALID') throw outcome.error;
      lines.push(...outcome.error.details);
      return;
    }
    ok.push({
      id: campaign.id,
      name: campaign.name,
      file: campaign.relFile,
      template: campaign.relTemplate,
      contentHash: campaign.contentHash,
      links: outcome.compiled.links.length,
      cached: outcome.compiled.cached,
      warnings: campaign.warnings,
    });
  });
  // Campaigns whose file has problems: their template is checked all the same, so one run
  // shows everything (never reported OK). A template already checked for another campaign
  // is not compiled again: MJML takes seconds, and it would find the same.
  const checked = new Set(report.campaigns.map((c) => c.templatePath));
  for (const draft of report.drafts) {
    if (checked.has(draft.templatePath)) continue;
    checked.add(draft.templatePath);
    try {
      await compileCampaign(draft, ctx.config);
    } catch (err) {
      if (!isMarketerError(err) || err.code !== 'CAMPAIGN_INVALID') throw err;
      for (const line of err.details) if (!lines.includes(line)) lines.push(line);
    }
  }
  const warnings = [...new Set(ok.flatMap((c) => c.warnings))];
  await writeSummary(opts.summary, validateSummary({ campaigns: ok, problems: lines, warnings, changed }));
  if (ctx.out.json && lines.length === 0) {
    ctx.out.printJson({ ok: true, campaigns: ok, warnings, ...(changed ? { changed: changedJson(changed) } : {}), compile: compileActivity() });
    return;
  }
  for (const w of warnings) ctx.out.warn(w);
  if (lines.length > 0) {
    throw inputError('CAMPAIGN_INVALID', `${plural(lines.length, 'problem')} found${ok.length > 0 ? ` (${plural(ok.length, 'campaign')} OK)` : ''}:`, {
      details: lines,
      hint: 'The campaign file format is in `marketer validate --help` and docs/campaign-file.md.',
    });
  }
  for (const c of ok) {
    ctx.out.info(`${chalk.green('OK')} ${c.file}: campaign ${c.id} "${c.name}" (${c.template}, ${plural(c.links, 'link')})`);
  }
}
