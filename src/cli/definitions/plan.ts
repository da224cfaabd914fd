import type { Command } from 'commander';
import { CHANGED_SINCE_HELP } from './changed-since-help.js';
import { lazyAction } from './lazy-action.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('Show what sending campaigns would do, touching nothing: audience, waves, quota, compliance')
    .argument('[paths...]', 'campaign files or folders (default: campaigns/)')
    .option('--changed-since <commit>', 'only campaigns added or changed since this commit (git), e.g. the pull request base')
    .option('--preview-dir <dir>', 'also write each campaign rendered for the sample subscriber here (<id>-<name>.html and .txt)')
    .option('--summary <file>', 'append a Markdown report to this file (default: $GITHUB_STEP_SUMMARY when set)')
    .option('--no-summary', 'no Markdown report, even on GitHub Actions')
    .option('--json', 'print one JSON document')
    .addHelpText('after', `
Waves: with schedule.timezone "subscriber", everyone gets the mail at schedule.at in their own
zone, so one campaign fires in as many UTC waves as there are offsets in the list.

JSON: for a single campaign file, the plan itself ({campaign, audience, waves, quota, checks, …});
for folders, several files or --changed-since, {"campaigns": [plan, …], "previews": […]} (also
when that is one campaign or none), plus "changed" with --changed-since.
${CHANGED_SINCE_HELP}

Examples:
  $ marketer plan campaigns/weekly.yaml
  $ marketer plan campaigns/weekly.yaml --json | jq '.waves[] | [.fire_at, .count]'
  $ marketer plan --changed-since origin/main --preview-dir previews/`)
    .action(lazyAction(() => import('../commands/plan.js'), (m) => m.planAction));
}
