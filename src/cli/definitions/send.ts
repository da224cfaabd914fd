import type { Command } from 'commander';
import { CHANGED_SINCE_HELP } from './changed-since-help.js';
import { addDispatchOptions } from './dispatch-options.js';
import { lazyAction } from './lazy-action.js';

export function registerSend(program: Command): void {
  addDispatchOptions(
    program
      .command('send')
      .description('Validate campaigns, enqueue one delivery per eligible subscriber, and send what is due')
      .argument('[paths...]', 'campaign files or folders')
      .option('--changed-since <commit>', 'only campaigns added or changed since this commit (git), e.g. the commit before a merge')
      .option('--wait', 'stay up and send every later wave as it comes due (one campaign only)')
      .option('--now', 'ignore the schedule: everyone is due now')
      .option('--dry-run', 'show the plan and change nothing (same as marketer plan)')
      .option('--allow-changed', 'send the rest even though the campaign file changed after sending began')
      .option('--summary <file>', 'append a Markdown report to this file (default: $GITHUB_STEP_SUMMARY when set)')
      .option('--no-summary', 'no Markdown report, even on GitHub Actions'),
  )
    .addHelpText('after', `
Safe to run again: the ledger has one row per (campaign, subscriber), so a re-run only adds
subscribers who became eligible since and resumes what is queued; nobody is mailed twice.
Without --wait, later waves are sent by "marketer dispatch" (e.g. a scheduled CI job).

Several campaigns (folders, several files, --changed-since): every file is validated before
anything is enqueued; then each is sent in turn. A campaign whose file changed after its sending
began is refused (exit 2) and the others still go out. JSON: one campaign file gives
{campaign, enqueued, sent, …}; the other forms give {"campaigns": [that, …], "refused": […]}
(plus "changed" with --changed-since).
${CHANGED_SINCE_HELP}

Examples:
  $ marketer send campaigns/weekly.yaml --dry-run
  $ marketer send campaigns/weekly.yaml --wait
  $ marketer send --changed-since HEAD~1
  $ MARKETER_TRANSPORT=outbox marketer send campaigns/weekly.yaml --now`)
    .action(lazyAction(() => import('../commands/send.js'), (m) => m.sendAction));
}
