import { hostname } from 'node:os';
import path from 'node:path';
import chalk from 'chalk';
import { sql } from 'kysely';
import type { Command } from 'commander';
import type { CompiledCampaign, LoadedCampaign } from '../../campaigns/index.js';
import type { ChangedCampaigns } from '../../campaigns/changed-campaigns.js';
import { createMailer } from '../../sending/create-mailer.js';
import type { RateDecision } from '../../sending/preflight.js';
import type { DispatchResult } from '../../sending/dispatch.js';
import type { TestState } from '../../experiments/variant-stats.js';
import type { CampaignCounts } from '../../sending/ledger.js';
import { sendNowDueAt } from '../../experiments/assign-variants.js';
import { decisionJson, testLines } from '../format-experiment.js';
import { inputError, isMarketerError, MarketerError } from '../../errors.js';
import { campaignsChangedSince, changedJson } from '../changed-since.js';
import { sendSummary, writeSummary, type RefusedCampaign, type SentCampaign } from '../step-summary.js';
import { commandContext, refuseEphemeralDatabase, ReportedExit, withDatabase, type CommandContext } from '../context.js';
import { formatCounts, formatErrors, formatPause, formatStatus, formatWarmup, runErrors } from '../format-sending.js';
import { byCount, formatNumber, plural } from '../format.js';
import { compileAll, isSingleFile, loadOne, runPlan } from './plan.js';

/**
 * What sending needs once the campaigns are read and compiled: the SES account checks, the
 * ledger, the dispatch loop and its policies (29 modules), loaded then, so that `send` starts
 * on its campaign files first and `send --dry-run` never loads them.
 */
const sending = () => import('../send-steps.js');

interface SendFlags {
  wait?: boolean;
  now?: boolean;
  dryRun?: boolean;
  allowChanged?: boolean;
  allowEphemeralDb?: boolean;
  concurrency?: number;
  rate?: number;
  worker?: string;
  json?: boolean;
  changedSince?: string;
  summary?: string | boolean;
}

export async function sendAction(paths: string[], flags: SendFlags, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  if (flags.dryRun) return runPlan(ctx, paths, { changedSince: flags.changedSince, summary: flags.summary });
  if (paths.length === 0 && flags.changedSince === undefined) {
    // "Every campaign in the repository" is never what a send without arguments should mean.
    throw inputError('USAGE', 'Name the campaign files (or folders) to send, or pass --changed-since <commit>.', { hint: 'e.g. marketer send campaigns/weekly.yaml' });
  }
  refuseEphemeralDatabase(ctx, 'send', flags.allowEphemeralDb);
  if (isSingleFile(paths, flags.changedSince)) {
    const compiled = await withSendSummary(flags, undefined, () => loadOne(paths[0]!, ctx, flags, false));
    const { preflightSend, gateAccount } = await sending();
    const preflight = await withSendSummary(flags, undefined, async () => {
      const p = await preflightSend(ctx, [compiled.campaign], flags.rate);
      const refusal = p.refused.get(compiled.campaign.id);
      if (refusal) throw refusal;
      return p;
    }, compiled.campaign);
    await withDatabase(ctx, async ({ db }) => {
      await withSendSummary(flags, undefined, () => gateAccount(ctx, db, preflight.rate.quota), compiled.campaign);
      const outcome = await withSendSummary(flags, undefined, () => sendCampaign(ctx, db, compiled, flags, preflight.rate), compiled.campaign);
      await writeSummary(flags.summary, sendSummary({ sent: [sentRow(compiled.campaign, outcome.counts, outcome.result)], refused: [], stopped: stoppedMessage(outcome.result) }));
      report(ctx, outcome.counts, outcome.result, flags, true, outcome.test);
    });
    return;
  }
  await sendSeveral(ctx, paths, flags);
}

interface SendOutcome {
  counts: CampaignCounts;
  result: DispatchResult;
  /** The campaign's A/B test, as the ledger holds it after this run. */
  test?: TestState | null;
}

/** Record, enqueue and dispatch what is due of one compiled campaign. */
async function sendCampaign(ctx: CommandContext, db: import('kysely').Kysely<import('../../db/types.js').Database>, compiled: CompiledCampaign, flags: SendFlags, rate: RateDecision): Promise<SendOutcome> {
  const { campaignCounts, enqueueDeliveries, recordCampaign, resetBreakers, testState } = await sending();
  const campaign = compiled.campaign;
  if (flags.now) campaign.schedule = { ...campaign.schedule, at: undefined };
  const recorded = await recordCampaign(db, campaign, { allowChanged: flags.allowChanged });
  // Someone looked at why it paused and chose to go on: the breakers count from here.
  if (recorded.resumed) await resetBreakers(db, campaign.id);
  const now = new Date();
  const added = await enqueueDeliveries(db, campaign, now);
  if (flags.now) {
    await sql`UPDATE deliveries SET due_at = ${sendNowDueAt(campaign, now)} WHERE campaign_id = ${campaign.id} AND status = 'queued' AND due_at > ${now}`.execute(db);
  }
  if (!ctx.out.json) {
    ctx.out.info(`${chalk.bold(`Campaign ${campaign.id}`)}: ${campaign.name}`);
    ctx.out.info(recorded.created
      ? `Enqueued ${plural(added, 'delivery')}.`
      : `Already recorded; ${plural(added, 'new eligible subscriber')} enqueued, nobody is mailed twice.${recorded.resumed ? ' Resuming the paused campaign.' : ''}`);
  }
  const result = await runDispatch(ctx, db, flags, { campaignId: campaign.id, compiled: async () => compiled, allowChanged: flags.allowChanged, rate });
  return { counts: await campaignCounts(db, campaign.id), result, test: await testState(db, campaign.id) };
}

/** Run `fn`; if it fails on bad input, put that in the step summary before passing it on. */
async function withSendSummary<T>(flags: SendFlags, changed: ChangedCampaigns | undefined, fn: () => Promise<T>, campaign?: LoadedCampaign): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isMarketerError(err) && err.code === 'CAMPAIGN_INVALID') {
      await writeSummary(flags.summary, sendSummary({ sent: [], refused: [], problems: err.details, changed }));
    } else if (isMarketerError(err) && campaign) {
      await writeSummary(flags.summary, sendSummary({ sent: [], refused: [refusal(campaign, err)], changed }));
    }
    throw err;
  }
}

function refusal(c: LoadedCampaign, err: MarketerError): RefusedCampaign {
  return { campaign: c.id, file: c.relFile, code: err.code, message: err.message, details: err.details, hint: err.hint ?? null };
}

function sentRow(c: LoadedCampaign, counts: CampaignCounts, result: DispatchResult): SentCampaign {
  return {
    campaign: counts.campaign, name: c.name, file: c.relFile, enqueued: counts.enqueued, sent: counts.sent, failed: counts.failed, unknown: counts.unknown,
    queued: counts.queued + counts.sending, status: counts.status, this_run: { sent: result.sent, failed: result.failed },
    paused: result.paused.find((p) => p.campaign === counts.campaign)?.reason,
    heldBack: formatWarmup(result.warmup),
    errors: runErrors(result, counts.campaign),
  };
}

function stoppedMessage(result: DispatchResult): string | undefined {
  return result.stopped?.reason === 'fatal' ? result.stopped.message : result.stopped?.reason === 'interrupted' ? 'interrupted' : undefined;
}

function sendDocument(counts: CampaignCounts, result: DispatchResult) {
  return {
    campaign: counts.campaign, enqueued: counts.enqueued, sent: counts.sent, failed: counts.failed, unknown: counts.unknown,
    queued: counts.queued + counts.sending, skipped: counts.skipped,
    this_run: { sent: result.sent, failed: result.failed, unknown: result.unknown, skipped: result.skipped, retries: result.retries, throttled: result.throttled, rate: Number(result.rate.toFixed(2)) },
    paused: result.paused, stopped: result.stopped ?? null, status: counts.status,
    warmup: result.warmup ?? null,
    account_warning: result.accountWarning ?? null,
    errors: runErrors(result, counts.campaign),
    decided: result.decided.map(decisionJson),
  };
}

/**
 * Several campaigns, e.g. those a merge changed. All are validated first (a bad file stops the
 * run before anything is enqueued); then each is sent in turn. A campaign refused because it
 * changed after its sending began does not hold back the others: they are separate mailings.
 */
async function sendSeveral(ctx: CommandContext, paths: string[], flags: SendFlags): Promise<void> {
  const changed = flags.changedSince === undefined ? undefined : await campaignsChangedSince(ctx, paths, flags.changedSince);
  const files = changed ? changed.campaigns.map((c) => c.file) : paths.map((p) => path.resolve(p));
  const compiled = files.length === 0 ? [] : await withSendSummary(flags, changed, () => compileAll(ctx, files, flags, changed, false));
  if (flags.wait && compiled.length > 1) {
    throw inputError('USAGE', `--wait stays up for one campaign's waves, and ${plural(compiled.length, 'campaign')} were given.`, { hint: 'Send them without --wait and run "marketer dispatch --wait" (or a scheduled "marketer dispatch") for the later waves.' });
  }
  const sent: { c: CompiledCampaign; outcome: SendOutcome }[] = [];
  const refused: RefusedCampaign[] = [];
  let stopped: DispatchResult['stopped'];
  if (compiled.length > 0) {
    const { preflightSend, gateAccount } = await sending();
    const preflight = await withSendSummary(flags, changed, () => preflightSend(ctx, compiled.map((c) => c.campaign), flags.rate));
    await withDatabase(ctx, async ({ db }) => {
      try {
        await gateAccount(ctx, db, preflight.rate.quota);
      } catch (err) {
        if (isMarketerError(err)) await writeSummary(flags.summary, sendSummary({ sent: [], refused: [], changed, stopped: err.message }));
        throw err;
      }
      for (const c of compiled) {
        const unverified = preflight.refused.get(c.campaign.id);
        if (unverified) {
          // Another campaign's sender may well be verified: refuse this one, send the others.
          refused.push(refusal(c.campaign, unverified));
          if (!ctx.out.json) printRefusal(unverified);
          continue;
        }
        if (sent.length > 0 && !ctx.out.json) ctx.out.info('');
        try {
          const outcome = await sendCampaign(ctx, db, c, flags, preflight.rate);
          sent.push({ c, outcome });
          if (!ctx.out.json) report(ctx, outcome.counts, outcome.result, flags, false, outcome.test);
          if (outcome.result.stopped) {
            // Fatal (the account is paused, credentials are wrong) or Ctrl-C: the next campaign
            // would stop the same way.
            stopped = outcome.result.stopped;
            break;
          }
        } catch (err) {
          if (!isMarketerError(err) || err.code !== 'CAMPAIGN_CHANGED') throw err;
          refused.push(refusal(c.campaign, err));
          if (!ctx.out.json) printRefusal(err);
        }
      }
    });
  } else if (!ctx.out.json) ctx.out.info('Nothing to send.');
  const stoppedText = stopped?.reason === 'fatal' ? stopped.message : stopped?.reason === 'interrupted' ? 'interrupted' : undefined;
  await writeSummary(flags.summary, sendSummary({ sent: sent.map(({ c, outcome }) => sentRow(c.campaign, outcome.counts, outcome.result)), refused, changed, stopped: stoppedText }));
  if (ctx.out.json) {
    ctx.out.printJson({
      campaigns: sent.map(({ outcome }) => ({ ...sendDocument(outcome.counts, outcome.result), test: outcome.test ?? null })),
      refused: refused.map(({ campaign, file, code, message, details, hint }) => ({ campaign, file, code, message, details, hint })),
      ...(changed ? { changed: changedJson(changed) } : {}),
    });
  }
  exitIfStopped(stopped);
  exitIfTripped({ paused: sent.flatMap(({ outcome }) => outcome.result.paused) });
  exitIfFailed({ failed: sent.reduce((n, { outcome }) => n + outcome.result.failed, 0) });
  if (refused.length > 0) {
    if (!ctx.out.json) process.stderr.write(`${chalk.red('error')} ${plural(refused.length, 'campaign')} ${byCount(refused.length, 'was', 'were')} refused (see above); the others were sent.\n`);
    throw new ReportedExit(2);
  }
}

/** The same words the CLI entry prints for an error, for a refusal that does not end the run. */
function printRefusal(err: MarketerError): void {
  process.stderr.write(`${chalk.red('error')} ${err.message}\n`);
  for (const d of err.details) process.stderr.write(`  ${d}\n`);
  if (err.hint) process.stderr.write(`${chalk.cyan('hint')} ${err.hint}\n`);
}

export async function runDispatch(
  ctx: CommandContext,
  db: import('kysely').Kysely<import('../../db/types.js').Database>,
  flags: SendFlags,
  o: { campaignId?: number; compiled?: () => Promise<import('../../campaigns/index.js').CompiledCampaign>; allowChanged?: boolean; rate?: RateDecision },
): Promise<DispatchResult> {
  const { dispatch, dispatchProgress, onInterrupt, pullWhileSending, rateFor } = await sending();
  const concurrency = flags.concurrency ?? ctx.config.concurrency;
  const mailer = createMailer(ctx.config, { concurrency });
  const controller = new AbortController();
  const unhook = onInterrupt(controller, (l) => process.stderr.write(`${chalk.yellow(l)}\n`));
  const progress = await dispatchProgress(db, ctx.out.meter('Sending', 'messages'), { campaignId: o.campaignId, wait: Boolean(flags.wait) });
  const queueUrl = ctx.config.sqsQueueUrl;
  const pull = flags.wait && queueUrl ? pullWhileSending(ctx, db, queueUrl) : undefined;
  try {
    const { rate } = o.rate ?? await rateFor(ctx, flags.rate, mailer);
    return await dispatch(
      {
        db, mailer, config: ctx.config, signal: controller.signal,
        compile: o.compiled ? async () => o.compiled!() : undefined,
        onStatus: progress.onStatus,
      },
      {
        worker: flags.worker ?? `${hostname()}-${process.pid}`,
        campaignId: o.campaignId,
        concurrency,
        rate,
        wait: Boolean(flags.wait),
        allowChanged: o.allowChanged,
      },
    );
  } finally {
    progress.stop();
    unhook();
    await pull?.stop();
    await mailer.close();
  }
}

function report(ctx: CommandContext, counts: CampaignCounts, result: DispatchResult, flags: SendFlags, exit = true, test?: TestState | null): void {
  if (result.accountWarning) ctx.out.warn(result.accountWarning);
  if (ctx.out.json) {
    ctx.out.printJson({ ...sendDocument(counts, result), ...(test === undefined ? {} : { test }) });
  } else {
    if (test) for (const line of testLines(test)) ctx.out.info(line);
    ctx.out.info(`This run: ${formatStatus(result)}`);
    ctx.out.info(formatCounts(counts));
    for (const line of formatErrors(runErrors(result, counts.campaign))) ctx.out.info(chalk.red(line));
    for (const p of result.paused) ctx.out.warn(`${formatPause(p)}. Fix the cause, then run marketer send again to resume.`);
    const held = formatWarmup(result.warmup);
    if (held) ctx.out.info(chalk.yellow(held));
    if (counts.status === 'done') ctx.out.info(doneLine(counts, result));
    else if (counts.queued > 0 && !result.stopped) {
      ctx.out.info(`${formatNumber(counts.queued)} ${byCount(counts.queued, 'waits', 'wait')} for later waves: run "marketer dispatch" on a schedule${flags.wait ? '' : ', or send with --wait'}.`);
    }
    if (ctx.config.transport === 'outbox' && result.sent > 0) {
      ctx.out.info(`Messages written to ${path.relative(process.cwd(), path.join(ctx.config.outboxDir, String(counts.campaign))) || '.'}/ (transport outbox; nothing left this machine).`);
    }
    if (counts.unknown > 0) ctx.out.warn(`${plural(counts.unknown, 'send')} ${byCount(counts.unknown, 'has', 'have')} an unknown outcome (timeout or crash while sending); they are not resent and are settled by SES events (marketer events pull).`);
  }
  if (exit) {
    exitIfStopped(result.stopped);
    exitIfTripped(result);
    exitIfFailed(result);
  }
}

/** A campaign with nothing left to send: done, unless this run's deliveries failed. */
function doneLine(counts: CampaignCounts, result: DispatchResult): string {
  const failed = formatNumber(result.failed);
  if (result.failed === 0) return chalk.green('Campaign done: every delivery is settled.');
  if (result.sent === 0) return chalk.red(`Nothing was sent: all ${failed} deliveries of this run failed (see above). Failed deliveries are not retried; marketer stats ${counts.campaign} lists the errors.`);
  return chalk.yellow(`Campaign finished with ${plural(result.failed, 'failed delivery', 'failed deliveries')} this run (see above); failed deliveries are not retried.`);
}

/**
 * A run in which SES refused deliveries for good fails the command (exit 1), however many were
 * sent: failed rows are never retried by themselves, so a human must look, and CI shows red.
 */
export function exitIfFailed(result: Pick<DispatchResult, 'failed'>): void {
  if (result.failed === 0) return;
  process.stderr.write(`${chalk.red('error')} ${plural(result.failed, 'delivery')} failed in this run (see above); they are not retried.
`);
  throw new ReportedExit(1);
}

/** A circuit breaker that paused a campaign fails the command (exit 1), so CI shows it red. */
export function exitIfTripped(result: Pick<DispatchResult, 'paused'>): void {
  if (result.paused.some((p) => p.breaker)) throw new ReportedExit(1);
}

/** A run that stopped early ends the command: 1 when SES refused to go on, 130 on Ctrl-C. */
export function exitIfStopped(stopped: DispatchResult['stopped']): void {
  if (stopped?.reason === 'fatal') {
    process.stderr.write(`${chalk.red('error')} Sending stopped: ${stopped.message}. The rest stays queued.\n`);
    throw new ReportedExit(1);
  }
  if (stopped?.reason === 'interrupted') throw new ReportedExit(130);
}
