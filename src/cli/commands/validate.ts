import path from 'node:path';
import chalk from 'chalk';
import type { Command } from 'commander';
import { checkCampaigns, compileActivity, compileCampaign, compileCampaigns, formatProblem } from '../../campaigns/index.js';
import { inputError, isMarketerError } from '../../errors.js';
import { CHANGED_SINCE_HELP, campaignsChangedSince, changedJson } from '../changed-since.js';
import { commandContext, sendsNothing } from '../context.js';
import { validateSummary, writeSummary } from '../step-summary.js';
import { plural } from '../format.js';

export const CAMPAIGN_FILE_HELP = `
The campaign file (campaigns/*.yaml):
  id: 42                       required; a unique whole number: \`marketer stats 42\`
  name: Weekly update          required; for you, not the recipient
  subject: "{{ first_name | default('there') }}, this week"   required; Nunjucks, one line
  preheader: Three things we shipped     optional; the inbox preview line
  from: "Jane <jane@example.com>"        default: from in marketer.yaml
  reply_to: support@example.com          one address or a list; default: reply_to in marketer.yaml
  template: templates/weekly.mjml        required; relative to the folder of marketer.yaml
  data: { hero_url: "https://…" }        campaign variables: {{ data.hero_url }}
  audience: { tags: [newsletter], exclude_tags: [churned] }   default: every active subscriber
  schedule: { at: "2026-12-01 08:00", timezone: subscriber, late: send, late_grace: 6h }
      at: local wall-clock time (omit to send now); timezone: subscriber (each one's own) or
      an IANA zone; late: send | skip a wave that is already late; late_grace: e.g. 6h, 90m
  utm: { source: newsletter, medium: email, campaign: weekly-48 }   also term, content
  transactional: false         true: no unsubscribe link or List-Unsubscribe headers

Template variables: email, first_name, last_name, timezone, attributes.<name>, data.<name>,
unsubscribe_url, campaign.id, campaign.name, subject, preheader. A marketing template must link
{{ unsubscribe_url }}. Templates are sandboxed: they read these variables and call filters,
macros and range, cycler, joiner; "constructor", "__proto__" and the like are refused, as are
JavaScript method calls and {% include %}. Full reference: docs/campaign-file.md`;

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

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Check campaign files and their templates (default: every file under campaigns/)')
    .argument('[paths...]', 'campaign files or folders')
    .option('--changed-since <commit>', 'only campaigns added or changed since this commit (git), e.g. the pull request base')
    .option('--summary <file>', 'append a Markdown report to this file (default: $GITHUB_STEP_SUMMARY when set)')
    .option('--no-summary', 'no Markdown report, even on GitHub Actions')
    .option('--json', 'print one JSON document')
    .addHelpText('after', `
Examples:
  $ marketer validate
  $ marketer validate campaigns/weekly.yaml --json
  $ marketer validate --changed-since origin/main
${CAMPAIGN_FILE_HELP}
${CHANGED_SINCE_HELP}

Exit code 2 when anything is wrong, with every problem as file:line:col: message (hint).
`)
    .action(async (paths: string[], opts: { changedSince?: string; summary?: string | boolean }, cmd: Command) => {
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
    });
}
