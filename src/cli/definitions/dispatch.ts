import type { Command } from 'commander';
import { addDispatchOptions } from './dispatch-options.js';
import { lazyAction } from './lazy-action.js';

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
    .action(lazyAction(() => import('../commands/dispatch.js'), (m) => m.dispatchAction));
}
