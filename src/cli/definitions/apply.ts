import type { Command } from 'commander';
import { addDispatchOptions } from './dispatch-options.js';
import { lazyAction } from './lazy-action.js';

export function registerApply(program: Command): void {
  addDispatchOptions(
    program
      .command('apply')
      .description('Send what the branch added or changed since the last applied commit, record HEAD, then dispatch what is due')
      .option('--since <commit>', 'where to start when no commit is recorded for the branch yet, or after a force push; ignored otherwise')
      .option('--branch <name>', 'the branch whose applied commit to use (default: the checked-out branch)')
      .option('--plan', 'show what apply would do, writing nothing')
      .option('--allow-changed', 'send the rest of a campaign even though its file changed after sending began')
      .option('--summary <file>', 'append a Markdown report to this file (default: $GITHUB_STEP_SUMMARY when set)')
      .option('--no-summary', 'no Markdown report, even on GitHub Actions'),
  )
    .addHelpText('after', `
The branch is the desired state; the ledger records the last commit applied on it. Each run
sends the campaigns added or changed between that commit and HEAD (a campaign whose template or
an included partial changed counts as changed), records HEAD, and dispatches every due delivery.
A run that was cancelled, failed or never happened is caught up by the next one; re-runs and
runs at the same time mail nobody twice, and the recorded commit only moves forward.

--since is used only where no commit is recorded for the branch yet (the first run) or where the
recorded commit is not in HEAD's history (a force push); otherwise it is ignored, with a notice.
A campaign with schedule.late: skip whose last wave passed more than late_grace before it was
first applied is reported as missed and not sent.

JSON: {branch, range: {base, head, from, since_ignored}, applied_commit: {before, after},
applied: [...], missed: [...], unchanged: [...], refused: [...], dispatch: {...}}.

Examples:
  $ marketer apply --since HEAD          # first run: from now on, send what is merged
  $ marketer apply                       # on every push and every 15 minutes
  $ marketer apply --plan --json`)
    .action(lazyAction(() => import('../commands/apply.js'), (m) => m.applyAction));
}
