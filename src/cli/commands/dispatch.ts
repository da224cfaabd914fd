import chalk from 'chalk';
import type { Command } from 'commander';
import { commandContext, refuseEphemeralDatabase, withDatabase } from '../context.js';
import { decisionJson, decisionLine } from '../format-experiment.js';
import { formatCampaignErrors, formatPause, formatStatus, formatWarmup } from '../format-sending.js';
import { exitIfFailed, exitIfStopped, exitIfTripped, runDispatch } from './send.js';
import { inputError } from '../../errors.js';
import { formatNumber } from '../format.js';

interface DispatchFlags {
  campaign?: string;
  wait?: boolean;
  allowEphemeralDb?: boolean;
  allowChanged?: boolean;
  concurrency?: number;
  rate?: number;
  worker?: string;
  json?: boolean;
}

export async function dispatchAction(flags: DispatchFlags, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  refuseEphemeralDatabase(ctx, 'dispatch', flags.allowEphemeralDb);
  const campaignId = flags.campaign === undefined ? undefined : Number(flags.campaign);
  if (campaignId !== undefined && !Number.isInteger(campaignId)) {
    throw inputError('BAD_OPTION', `--campaign takes a numeric campaign id, got "${flags.campaign}"`);
  }
  await withDatabase(ctx, async ({ db }) => {
    const result = await runDispatch(ctx, db, flags, { campaignId, allowChanged: flags.allowChanged });
    if (result.accountWarning) ctx.out.warn(result.accountWarning);
    if (ctx.out.json) {
      ctx.out.printJson({
        campaigns: result.campaigns, finished: result.finished, sent: result.sent, failed: result.failed, unknown: result.unknown,
        skipped: result.skipped, retries: result.retries, throttled: result.throttled, recovered: result.recovered,
        paused: result.paused, stopped: result.stopped ?? null, warmup: result.warmup ?? null, errors: result.errors,
        account_warning: result.accountWarning ?? null,
        decided: result.decided.map(decisionJson),
      });
    } else {
      ctx.out.info(result.campaigns.length === 0 && result.sent === 0 && !result.stopped ? 'Nothing due.' : `Dispatched: ${formatStatus(result)}`);
      if (result.recovered.requeued || result.recovered.unknown) {
        ctx.out.info(`Recovered from lapsed leases: ${formatNumber(result.recovered.requeued)} back to the queue, ${formatNumber(result.recovered.unknown)} unknown.`);
      }
      for (const d of result.decided) ctx.out.info(decisionLine(d));
      for (const id of result.finished) ctx.out.info(chalk.green(`Campaign ${id} done.`));
      for (const line of formatCampaignErrors(result.errors)) ctx.out.info(chalk.red(line));
      for (const p of result.paused) ctx.out.warn(formatPause(p));
      const held = formatWarmup(result.warmup);
      if (held) ctx.out.info(chalk.yellow(held));
    }
    exitIfStopped(result.stopped);
    exitIfTripped(result);
    exitIfFailed(result);
  });
}
