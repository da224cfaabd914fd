import chalk from 'chalk';
import type { Command } from 'commander';
import { commandContext, refuseEphemeralDatabase, withDatabase } from '../context.js';
import { formatCampaignErrors, formatPause, formatStatus, formatWarmup } from '../format-sending.js';
import { addDispatchOptions, exitIfFailed, exitIfStopped, exitIfTripped, runDispatch } from './send.js';
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

export function registerDispatch(program: Command): void {
  addDispatchOptions(
    program
      .command('dispatch')
      .description('Send the due deliveries of every running campaign (later waves); run several at once to scale out')
      .option('--campaign <id>', 'only this campaign')
      .option('--wait', 'stay up until every queued wave is sent')
      .option('--allow-changed', 'send even if a campaign file changed after sending began'),
  )
    .addHelpText('after', `
Workers share the ledger through Postgres (FOR UPDATE SKIP LOCKED): start as many as you like,
on one machine or many; each claims different rows. A worker that dies loses its claims after
lease_seconds (60): unsent rows return to the queue, rows that may have been sent become
"unknown" and are settled by SES events.

Examples:
  $ marketer dispatch
  $ marketer dispatch --campaign 42 --wait --worker vps-1
  $ marketer dispatch --rate 10 --concurrency 4`)
    .action(async (flags: DispatchFlags, cmd: Command) => {
      const ctx = commandContext(cmd);
      refuseEphemeralDatabase(ctx, 'dispatch', flags.allowEphemeralDb);
      const campaignId = flags.campaign === undefined ? undefined : Number(flags.campaign);
      if (campaignId !== undefined && !Number.isInteger(campaignId)) {
        throw inputError('BAD_OPTION', `--campaign takes a numeric campaign id, got "${flags.campaign}"`);
      }
      await withDatabase(ctx, async ({ db }) => {
        const result = await runDispatch(ctx, db, flags, { campaignId, allowChanged: flags.allowChanged });
        if (ctx.out.json) {
          ctx.out.printJson({
            campaigns: result.campaigns, finished: result.finished, sent: result.sent, failed: result.failed, unknown: result.unknown,
            skipped: result.skipped, retries: result.retries, throttled: result.throttled, recovered: result.recovered,
            paused: result.paused, stopped: result.stopped ?? null, warmup: result.warmup ?? null, errors: result.errors,
          });
        } else {
          ctx.out.info(result.campaigns.length === 0 && result.sent === 0 ? 'Nothing due.' : `Dispatched: ${formatStatus(result)}`);
          if (result.recovered.requeued || result.recovered.unknown) {
            ctx.out.info(`Recovered from lapsed leases: ${formatNumber(result.recovered.requeued)} back to the queue, ${formatNumber(result.recovered.unknown)} unknown.`);
          }
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
    });
}
