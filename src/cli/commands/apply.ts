import chalk from 'chalk';
import { sql } from 'kysely';
import type { Command } from 'commander';
import type { ChangedCampaigns } from '../../campaigns/changed-campaigns.js';
import { applyCampaigns, type ApplyCampaignsResult } from '../../apply/apply-campaigns.js';
import { appliedCommit, recordAppliedCommit, type RecordOutcome } from '../../apply/applied-commits.js';
import { resolveApplyRange, type ApplyRange } from '../../apply/apply-range.js';
import { committedCampaignFiles, type CampaignFile } from '../../apply/campaign-files.js';
import { currentBranch, isAncestor, resolveCommit } from '../../apply/git.js';
import { inputError, isMarketerError } from '../../errors.js';
import type { DispatchResult } from '../../sending/dispatch.js';
import type { RateDecision } from '../../sending/preflight.js';
import { preflightSend } from '../sender-preflight.js';
import { applySummary } from '../apply-summary.js';
import { campaignsChangedSince, changedJson } from '../changed-since.js';
import { commandContext, readOnlyDatabase, refuseEphemeralDatabase, ReportedExit, sendsNothing, withDatabase, type CommandContext } from '../context.js';
import { formatCampaignErrors, formatStatus } from '../format-sending.js';
import { byCount, formatNumber, plural } from '../format.js';
import { writeSummary } from '../step-summary.js';
import { compileAll } from './plan.js';
import { exitIfFailed, exitIfStopped, exitIfTripped, runDispatch } from './send.js';

interface ApplyFlags {
  since?: string;
  branch?: string;
  plan?: boolean;
  allowChanged?: boolean;
  allowEphemeralDb?: boolean;
  concurrency?: number;
  rate?: number;
  worker?: string;
  json?: boolean;
  summary?: string | boolean;
}

export async function applyAction(flags: ApplyFlags, cmd: Command): Promise<void> {
  const ctx = flags.plan ? sendsNothing(commandContext(cmd)) : commandContext(cmd);
  if (!flags.plan) refuseEphemeralDatabase(ctx, 'apply', flags.allowEphemeralDb);
  await runApply(ctx, flags);
}

interface ApplyReport {
  range: ApplyRange;
  changed: ChangedCampaigns | undefined;
  result: ApplyCampaignsResult;
  problems: string[];
  unchanged: CampaignFile[];
  recordedAfter: string | undefined;
  outcome: RecordOutcome | undefined;
  dispatch: DispatchResult | undefined;
  due: number | undefined;
}

async function runApply(ctx: CommandContext, flags: ApplyFlags): Promise<void> {
  const root = ctx.config.root;
  const head = await resolveCommit(root, 'HEAD');
  if (!head) throw inputError('NOT_A_GIT_REPOSITORY', `apply needs the campaigns repository's git checkout, and ${root} is not one (or has no commit).`, { hint: 'run it inside the campaigns repository' });
  const branch = flags.branch ?? await currentBranch(root) ?? (process.env.GITHUB_REF_TYPE === 'branch' ? process.env.GITHUB_REF_NAME : undefined);
  if (!branch) throw inputError('NO_BRANCH', 'HEAD is detached, so apply does not know which branch\'s applied commit to use.', { hint: 'pass --branch main (the branch this checkout is of)' });

  const report = await withDatabase(ctx, async ({ db }) => {
    const recorded = await appliedCommit(db, branch);
    const range = await resolveApplyRange({ root, branch, head, recorded, since: flags.since });
    announceRange(ctx, range, flags);
    const changed = range.from === 'behind' ? undefined : await campaignsChangedSince(ctx, [], range.base);
    const files = changed?.campaigns ?? [];
    let problems: string[] = [];
    let result: ApplyCampaignsResult = { applied: [], missed: [], refused: [] };
    let rate: RateDecision | undefined;
    try {
      let compiled = files.length === 0 ? [] : await compileAll(ctx, files.map((c) => c.file), flags, changed, false);
      const change = new Map(files.map((c) => [c.relFile, c.change]));
      // The same pre-flight as send: the rate SES allows, and each From identity SES would accept.
      const preflight = flags.plan ? undefined : await preflightSend(ctx, compiled.map((c) => c.campaign), flags.rate);
      rate = preflight?.rate;
      const unverified = compiled.filter((c) => preflight?.refused.has(c.campaign.id));
      compiled = compiled.filter((c) => !unverified.includes(c));
      result = await applyCampaigns(db, compiled.map((c) => ({ compiled: c, change: change.get(c.campaign.relFile) ?? 'modified' })), { now: new Date(), plan: Boolean(flags.plan), allowChanged: flags.allowChanged });
      result.refused.push(...unverified.map((c) => ({ campaign: c.campaign.id, file: c.campaign.relFile, error: preflight!.refused.get(c.campaign.id)! })));
    } catch (err) {
      // A bad file applies nothing new, and what is already running still goes out below.
      if (!isMarketerError(err) || err.code !== 'CAMPAIGN_INVALID') throw err;
      problems = err.details;
    }
    printApplied(ctx, result, flags);
    const changedFiles = new Set(files.map((c) => c.relFile));
    const unchanged = (await committedCampaignFiles(root)).filter((f) => !changedFiles.has(f.file));
    let outcome: RecordOutcome | undefined;
    let dispatch: DispatchResult | undefined;
    let due: number | undefined;
    if (flags.plan) {
      due = await dueNow(db);
      if (!ctx.out.json) ctx.out.info(`Due now: ${plural(due, 'delivery')} would be dispatched.${range.from === 'behind' ? '' : ` ${head.slice(0, 12)} would be recorded as applied on ${branch}.`}`);
    } else {
      if (problems.length === 0 && result.refused.length === 0 && range.from !== 'behind') {
        outcome = await recordAppliedCommit(db, branch, head, (a, b) => isAncestor(root, a, b));
        if (!ctx.out.json) ctx.out.info(outcome === 'kept-newer' ? `A newer commit is already recorded as applied on ${branch}; it stays.` : `Applied ${head.slice(0, 12)} on ${branch}.`);
      } else if (!ctx.out.json && range.from !== 'behind') {
        ctx.out.info(`${head.slice(0, 12)} is not recorded as applied: the next run tries these campaigns again.`);
      }
      dispatch = await runDispatch(ctx, db, flags, { allowChanged: flags.allowChanged, rate });
      if (!ctx.out.json) {
        ctx.out.info(dispatch.campaigns.length === 0 && dispatch.sent === 0 ? 'Nothing due.' : `Dispatched: ${formatStatus(dispatch)}`);
        for (const line of formatCampaignErrors(dispatch.errors)) ctx.out.info(chalk.red(line));
      }
    }
    const recordedAfter = flags.plan ? recorded : await appliedCommit(db, branch);
    return { range, changed, result, problems, unchanged, recordedAfter, outcome, dispatch, due } satisfies ApplyReport;
  }, flags.plan ? readOnlyDatabase(ctx) : {});

  await writeSummary(flags.summary, applySummary({ ...report, plan: Boolean(flags.plan) }));
  if (ctx.out.json) ctx.out.printJson(applyJson(report, Boolean(flags.plan)));
  for (const line of report.problems) if (!ctx.out.json) process.stderr.write(`  ${line}\n`);
  if (report.problems.length > 0) {
    process.stderr.write(`${chalk.red('error')} ${plural(report.problems.length, 'problem')} in the changed campaigns; nothing new was ${flags.plan ? 'planned' : 'sent'}.\n`);
    throw new ReportedExit(2);
  }
  exitIfStopped(report.dispatch?.stopped);
  if (report.dispatch) exitIfFailed(report.dispatch);
  if (report.dispatch) exitIfTripped(report.dispatch);
  if (report.result.refused.length > 0) {
    process.stderr.write(`${chalk.red('error')} ${plural(report.result.refused.length, 'campaign')} ${byCount(report.result.refused.length, 'was', 'were')} refused (see above); the others were ${flags.plan ? 'planned' : 'sent'}.\n`);
    throw new ReportedExit(2);
  }
}

function announceRange(ctx: CommandContext, r: ApplyRange, flags: ApplyFlags): void {
  const s = (x: string) => x.slice(0, 12);
  if (r.sinceIgnored) ctx.out.warn(`--since ${flags.since} is ignored: ${s(r.base)}, the commit last applied on ${r.branch}, is an ancestor of HEAD, and apply starts from there.`);
  if (ctx.out.json) return;
  if (r.from === 'behind') ctx.out.info(`HEAD ${s(r.head)} is older than ${s(r.base)}, already applied on ${r.branch}: nothing to apply.`);
  else if (r.from === 'applied') ctx.out.info(`Branch ${r.branch}: applying ${s(r.base)}..${s(r.head)} (from the last applied commit).`);
  else ctx.out.info(`Branch ${r.branch}: applying ${s(r.base)}..${s(r.head)} (from --since${r.recorded ? `; the applied commit ${s(r.recorded)} is not in HEAD's history` : '; nothing applied before'}).`);
}

function printApplied(ctx: CommandContext, r: ApplyCampaignsResult, flags: ApplyFlags): void {
  // Missed and refused campaigns go to stderr in JSON mode too: a script's log should show them.
  for (const a of ctx.out.json ? [] : r.applied) {
    const what = flags.plan ? `would enqueue ${formatNumber(a.enqueued)}` : a.created ? `enqueued ${formatNumber(a.enqueued)}` : `already recorded; ${formatNumber(a.enqueued)} new eligible enqueued, nobody is mailed twice`;
    ctx.out.info(`${chalk.bold(`Campaign ${a.campaign}`)} (${a.file}): ${what}.`);
  }
  for (const m of r.missed) {
    ctx.out.warn(`campaign ${m.campaign} (${m.file}) missed its schedule: its last wave was due ${m.lastWave.toISOString()}, more than late_grace (${formatGrace(m.lateGraceSeconds)}) before it was first applied, and it has late: skip. Not sent; give it a new schedule to send it.`);
  }
  for (const x of r.refused) {
    process.stderr.write(`${chalk.red('error')} ${x.error.message}\n`);
    for (const d of x.error.details) process.stderr.write(`  ${d}\n`);
    if (x.error.hint) process.stderr.write(`${chalk.cyan('hint')} ${x.error.hint}\n`);
  }
}

export function formatGrace(seconds: number): string {
  if (seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

/** Queued deliveries of running campaigns whose time has come (apply --plan: what dispatch would take). */
async function dueNow(db: import('kysely').Kysely<import('../../db/types.js').Database>): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
    WHERE c.status = 'running' AND d.status = 'queued' AND d.due_at <= now()`.execute(db);
  return rows[0]?.n ?? 0;
}

function applyJson(r: ApplyReport, plan: boolean) {
  const d = r.dispatch;
  return {
    plan,
    branch: r.range.branch,
    range: { base: r.range.base, head: r.range.head, from: r.range.from, since_ignored: r.range.sinceIgnored },
    applied_commit: { before: r.range.recorded ?? null, after: r.recordedAfter ?? null },
    applied: r.result.applied,
    missed: r.result.missed.map((m) => ({ campaign: m.campaign, name: m.name, file: m.file, last_wave: m.lastWave.toISOString(), late_grace_seconds: m.lateGraceSeconds })),
    unchanged: r.unchanged,
    refused: r.result.refused.map((x) => ({ campaign: x.campaign, file: x.file, code: x.error.code, message: x.error.message, details: x.error.details, hint: x.error.hint ?? null })),
    problems: r.problems,
    deleted: r.changed?.deleted ?? [],
    ...(r.changed ? { changed: changedJson(r.changed) } : {}),
    dispatch: d
      ? { campaigns: d.campaigns, finished: d.finished, sent: d.sent, failed: d.failed, unknown: d.unknown, skipped: d.skipped, paused: d.paused, stopped: d.stopped ?? null, errors: d.errors }
      : { due: r.due ?? 0 },
  };
}
