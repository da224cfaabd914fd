import { existsSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import chalk from 'chalk';
import type { Command } from 'commander';
import { checkCampaigns, compileCampaign, formatProblem, loadCampaign, SAMPLE_RECIPIENT, type CompiledCampaign } from '../../campaigns/index.js';
import type { ChangedCampaigns } from '../../campaigns/changed-campaigns.js';
import { errorMessage, inputError, isMarketerError } from '../../errors.js';
import { createMailer } from '../../sending/create-mailer.js';
import { planCampaign, type PlanResult } from '../../sending/plan-campaign.js';
import { preflightPlanChecks, senderChecker } from '../../sending/preflight.js';
import { fromDomain, sharedSenderDomains, type SenderCampaign } from '../../sending/sender-domains.js';
import { SesSetup } from '../../sending/ses-account.js';
import { campaignsChangedSince, changedJson } from '../changed-since.js';
import { commandContext, readOnlyDatabase, sendsNothing, withDatabase, type CommandContext } from '../context.js';
import { formatPlan } from '../format-sending.js';
import { planSummary, writeSummary } from '../step-summary.js';
import { plural } from '../format.js';

export interface PlanOptions {
  changedSince?: string;
  previewDir?: string;
  /** A file, false for --no-summary, or undefined for $GITHUB_STEP_SUMMARY. */
  summary?: string | boolean;
}

export async function planAction(paths: string[], opts: PlanOptions, cmd: Command): Promise<void> {
  await runPlan(commandContext(cmd), paths, opts);
}

/** One campaign file named on its own: the single-campaign form (its own JSON shape). */
export function isSingleFile(paths: string[], changedSince: string | undefined): boolean {
  if (paths.length !== 1 || changedSince !== undefined) return false;
  try {
    return statSync(path.resolve(paths[0]!)).isFile();
  } catch {
    // A missing file is reported by loadCampaign in the single form, as it always was.
    return true;
  }
}

export async function runPlan(ctx: CommandContext, paths: string[] | string, opts: PlanOptions = {}): Promise<void> {
  ctx = sendsNothing(ctx);
  const list = typeof paths === 'string' ? [paths] : paths;
  if (isSingleFile(list, opts.changedSince)) {
    const compiled = await loadOne(list[0]!, ctx, opts);
    const [plan] = await planAll(ctx, [compiled]);
    const previews = opts.previewDir ? await writePreviews(opts.previewDir, [compiled]) : new Map<number, string>();
    await writeSummary(opts.summary, planSummary({ plans: [plan!], previews }));
    if (ctx.out.json) ctx.out.printJson(plan);
    else printPlans(ctx, [plan!], previews, opts.previewDir);
    return;
  }

  const changed = opts.changedSince === undefined ? undefined : await campaignsChangedSince(ctx, list, opts.changedSince);
  const compiled = changed && changed.campaigns.length === 0 ? [] : await compileAll(ctx, changed ? changed.campaigns.map((c) => c.file) : list.map((p) => path.resolve(p)), opts, changed);
  const plans = compiled.length > 0 ? await planAll(ctx, compiled) : [];
  const previews = opts.previewDir ? await writePreviews(opts.previewDir, compiled) : new Map<number, string>();
  await writeSummary(opts.summary, planSummary({ plans, previews, changed }));
  if (ctx.out.json) {
    ctx.out.printJson({
      campaigns: plans,
      previews: [...previews].map(([campaign, file]) => ({ campaign, html: path.join(opts.previewDir!, file), text: path.join(opts.previewDir!, file.replace(/\.html$/, '.txt')) })),
      ...(changed ? { changed: changedJson(changed) } : {}),
    });
  } else printPlans(ctx, plans, previews, opts.previewDir);
}

/**
 * Load and compile every campaign before planning any, so one bad file fails the whole run
 * with every problem listed (and in the step summary, where the reviewer looks).
 */
export async function compileAll(ctx: CommandContext, files: string[], opts: { summary?: string | boolean }, changed?: ChangedCampaigns, summarize = true): Promise<CompiledCampaign[]> {
  const report = await checkCampaigns(files, ctx.config);
  const problems = report.problems.map(formatProblem);
  const compiled: CompiledCampaign[] = [];
  for (const campaign of report.campaigns) {
    try {
      compiled.push(await compileCampaign(campaign, ctx.config));
    } catch (err) {
      if (!isMarketerError(err) || err.code !== 'CAMPAIGN_INVALID') throw err;
      problems.push(...err.details);
    }
  }
  if (problems.length > 0) {
    if (summarize) await writeSummary(opts.summary, planSummary({ plans: [], problems, changed }));
    throw inputError('CAMPAIGN_INVALID', `${plural(problems.length, 'problem')} found; nothing was planned or sent:`, {
      details: problems,
      hint: 'The campaign file format is in `marketer validate --help` and docs/campaign-file.md.',
    });
  }
  for (const w of new Set(compiled.flatMap((c) => c.campaign.warnings))) ctx.out.warn(w);
  return compiled;
}

/** One campaign file, with its problems in the step summary too when it is bad. */
export async function loadOne(file: string, ctx: CommandContext, opts: { summary?: string | boolean }, summarize = true): Promise<CompiledCampaign> {
  try {
    return await compileCampaign(await loadCampaign(file, ctx.config), ctx.config);
  } catch (err) {
    if (summarize && isMarketerError(err) && err.code === 'CAMPAIGN_INVALID') {
      await writeSummary(opts.summary, planSummary({ plans: [], problems: err.details }));
    }
    throw err;
  }
}

async function planAll(ctx: CommandContext, compiled: CompiledCampaign[]): Promise<PlanResult[]> {
  const mailer = createMailer(ctx.config, { concurrency: 1 });
  const ses = ctx.config.transport === 'ses' ? new SesSetup({ region: ctx.config.awsRegion, endpoint: ctx.config.sesEndpoint }) : undefined;
  try {
    const shared = sharedSenderDomains(await repositoryCampaigns(ctx, compiled));
    const checkSender = ses ? senderChecker(ses) : undefined;
    return await withDatabase(ctx, async ({ db }) => {
      const now = new Date();
      const plans: PlanResult[] = [];
      for (const c of compiled) {
        const plan = await planCampaign(db, c, mailer, now, ctx.config.warmup);
        const domain = fromDomain(c.campaign.from);
        plan.checks.push(...preflightPlanChecks({
          config: ctx.config, quota: plan.quota, transactional: c.campaign.transactional,
          sender: checkSender ? await checkSender(c.campaign.from) : undefined,
          shared: shared.find((s) => s.domain === domain),
        }));
        plans.push(plan);
      }
      return plans;
    }, readOnlyDatabase(ctx));
  } finally {
    ses?.close();
    await mailer.close();
  }
}

/**
 * The campaigns planned and every other valid campaign in the repository's campaigns/, to tell
 * when marketing and transactional mail share a From domain.
 */
async function repositoryCampaigns(ctx: CommandContext, compiled: CompiledCampaign[]): Promise<SenderCampaign[]> {
  const all: SenderCampaign[] = compiled.map((c) => c.campaign);
  if (!existsSync(path.join(ctx.config.root, 'campaigns'))) return all;
  const others = await checkCampaigns([], { ...ctx.config, transport: 'outbox' });
  return [...all, ...others.campaigns.filter((o) => !all.some((c) => c.id === o.id))];
}

/** Each campaign rendered for the sample subscriber: what a reviewer opens from the artifact. */
async function writePreviews(dir: string, compiled: CompiledCampaign[]): Promise<Map<number, string>> {
  await mkdir(dir, { recursive: true });
  const written = new Map<number, string>();
  for (const c of compiled) {
    const base = `${c.campaign.id}-${path.basename(c.campaign.relFile).replace(/\.ya?ml$/i, '').replace(/[^A-Za-z0-9._-]+/g, '-')}`;
    let message;
    try {
      message = c.render(SAMPLE_RECIPIENT);
    } catch (err) {
      // The plan's "renders" check reports this; a missing preview says the same thing.
      process.stderr.write(`${chalk.yellow('warning')} no preview for campaign ${c.campaign.id}: ${errorMessage(err)}\n`);
      continue;
    }
    await writeFile(path.join(dir, `${base}.html`), message.html);
    await writeFile(path.join(dir, `${base}.txt`), `Subject: ${message.subject}\nFrom: ${message.from}\n\n${message.text}`);
    written.set(c.campaign.id, `${base}.html`);
  }
  return written;
}

function printPlans(ctx: CommandContext, plans: PlanResult[], previews: Map<number, string>, dir: string | undefined): void {
  plans.forEach((plan, i) => {
    if (i > 0) ctx.out.info('');
    ctx.out.info(formatPlan(plan));
    const preview = previews.get(plan.campaign);
    if (preview && dir) ctx.out.info(`Preview: ${path.join(dir, preview)}`);
  });
}
