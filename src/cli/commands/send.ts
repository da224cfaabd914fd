import { hostname } from 'node:os';
import path from 'node:path';
import chalk from 'chalk';
import { sql } from 'kysely';
import type { Command } from 'commander';
import { compileCampaign, loadCampaign } from '../../campaigns/index.js';
import { createMailer, sendingRate } from '../../sending/create-mailer.js';
import { dispatch, type DispatchResult } from '../../sending/dispatch.js';
import { enqueueDeliveries, recordCampaign } from '../../sending/enqueue.js';
import { campaignCounts, type CampaignCounts } from '../../sending/ledger.js';
import { MarketerError } from '../../errors.js';
import { commandContext, refuseEphemeralDatabase, ReportedExit, withDatabase, type CommandContext } from '../context.js';
import { formatCounts, formatStatus } from '../format-sending.js';
import { onInterrupt } from '../interrupt.js';
import { formatNumber } from '../output.js';
import { runPlan } from './plan.js';

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
}

const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new MarketerError('BAD_OPTION', `--${name} must be a positive number, got "${v}"`, { exitCode: 2 });
  return n;
};

export function addDispatchOptions(cmd: Command): Command {
  return cmd
    .option('--concurrency <n>', 'requests to SES at once (default: concurrency in marketer.yaml, 16)', positive('concurrency'))
    .option('--rate <per-second>', 'messages per second (default: rate in marketer.yaml, else 80% of SES MaxSendRate)', positive('rate'))
    .option('--worker <name>', 'name of this worker in the ledger (default: host-pid)')
    .option('--allow-ephemeral-db', 'allow sending with the embedded database on a CI runner')
    .option('--json', 'print one JSON document at the end');
}

export function registerSend(program: Command): void {
  addDispatchOptions(
    program
      .command('send')
      .description('Validate a campaign, enqueue one delivery per eligible subscriber, and send what is due')
      .argument('<campaign.yaml>', 'campaign file')
      .option('--wait', 'stay up and send every later wave as it comes due')
      .option('--now', 'ignore the schedule: everyone is due now')
      .option('--dry-run', 'show the plan and change nothing (same as marketer plan)')
      .option('--allow-changed', 'send the rest even though the campaign file changed after sending began'),
  )
    .addHelpText('after', `
Safe to run again: the ledger has one row per (campaign, subscriber), so a re-run only adds
subscribers who became eligible since and resumes what is queued; nobody is mailed twice.
Without --wait, later waves are sent by "marketer dispatch" (e.g. a scheduled CI job).

Examples:
  $ marketer send campaigns/weekly.yaml --dry-run
  $ marketer send campaigns/weekly.yaml --wait
  $ MARKETER_TRANSPORT=outbox marketer send campaigns/weekly.yaml --now`)
    .action(async (file: string, flags: SendFlags, cmd: Command) => {
      const ctx = commandContext(cmd);
      if (flags.dryRun) return runPlan(ctx, file);
      refuseEphemeralDatabase(ctx, 'send', flags.allowEphemeralDb);
      const campaign = await loadCampaign(file, ctx.config);
      if (flags.now) campaign.schedule = { ...campaign.schedule, at: undefined };
      // Compiling validates template and variables before anything is enqueued.
      const compiled = await compileCampaign(campaign, ctx.config);
      await withDatabase(ctx, async ({ db }) => {
        const recorded = await recordCampaign(db, campaign, { allowChanged: flags.allowChanged });
        const now = new Date();
        const added = await enqueueDeliveries(db, campaign, now);
        if (flags.now) {
          await sql`UPDATE deliveries SET due_at = ${now} WHERE campaign_id = ${campaign.id} AND status = 'queued' AND due_at > ${now}`.execute(db);
        }
        if (!ctx.out.json) {
          ctx.out.info(`${chalk.bold(`Campaign ${campaign.id}`)}: ${campaign.name}`);
          ctx.out.info(recorded.created
            ? `Enqueued ${formatNumber(added)} deliveries.`
            : `Already recorded; ${formatNumber(added)} new eligible subscriber${added === 1 ? '' : 's'} enqueued, nobody is mailed twice.${recorded.resumed ? ' Resuming the paused campaign.' : ''}`);
        }
        const result = await runDispatch(ctx, db, flags, { campaignId: campaign.id, compiled: async () => compiled, allowChanged: flags.allowChanged });
        const counts = await campaignCounts(db, campaign.id);
        report(ctx, counts, result, flags);
      });
    });
}

export async function runDispatch(
  ctx: CommandContext,
  db: import('kysely').Kysely<import('../../db/types.js').Database>,
  flags: SendFlags,
  o: { campaignId?: number; compiled?: () => Promise<import('../../campaigns/index.js').CompiledCampaign>; allowChanged?: boolean },
): Promise<DispatchResult> {
  const concurrency = flags.concurrency ?? ctx.config.concurrency;
  const mailer = createMailer(ctx.config, { concurrency });
  const controller = new AbortController();
  const unhook = onInterrupt(controller, (l) => process.stderr.write(`${chalk.yellow(l)}\n`));
  const progress = ctx.out.progress('Sending');
  try {
    const { rate } = flags.rate ? { rate: flags.rate } : await sendingRate(ctx.config, mailer);
    return await dispatch(
      {
        db, mailer, config: ctx.config, signal: controller.signal,
        compile: o.compiled ? async () => o.compiled!() : undefined,
        onStatus: (s) => progress.update(formatStatus(s)),
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
    progress.done();
    unhook();
    await mailer.close();
  }
}

function report(ctx: CommandContext, counts: CampaignCounts, result: DispatchResult, flags: SendFlags): void {
  if (ctx.out.json) {
    ctx.out.printJson({
      campaign: counts.campaign, enqueued: counts.enqueued, sent: counts.sent, failed: counts.failed, unknown: counts.unknown,
      queued: counts.queued + counts.sending, skipped: counts.skipped,
      this_run: { sent: result.sent, failed: result.failed, unknown: result.unknown, skipped: result.skipped, retries: result.retries, throttled: result.throttled, rate: Number(result.rate.toFixed(2)) },
      paused: result.paused, stopped: result.stopped ?? null, status: counts.status,
    });
  } else {
    ctx.out.info(`This run: ${formatStatus(result)}`);
    ctx.out.info(formatCounts(counts));
    for (const p of result.paused) ctx.out.warn(`campaign ${p.campaign} paused: ${p.reason}. Fix the cause, then run marketer send again to resume.`);
    if (counts.status === 'done') ctx.out.info(chalk.green('Campaign done: every delivery is settled.'));
    else if (counts.queued > 0 && !result.stopped) {
      ctx.out.info(`${formatNumber(counts.queued)} wait for later waves: run "marketer dispatch" on a schedule${flags.wait ? '' : ', or send with --wait'}.`);
    }
    if (ctx.config.transport === 'outbox' && result.sent > 0) {
      ctx.out.info(`Messages written to ${path.relative(process.cwd(), path.join(ctx.config.outboxDir, String(counts.campaign))) || '.'}/ (transport outbox; nothing left this machine).`);
    }
    if (counts.unknown > 0) ctx.out.warn(`${formatNumber(counts.unknown)} sends have an unknown outcome (timeout or crash while sending); they are not resent and are settled by SES events (marketer events pull).`);
  }
  if (result.stopped?.reason === 'fatal') {
    process.stderr.write(`${chalk.red('error')} Sending stopped: ${result.stopped.message}. The rest stays queued.\n`);
    throw new ReportedExit(1);
  }
  if (result.stopped?.reason === 'interrupted') throw new ReportedExit(130);
}

export { report as reportSend };
