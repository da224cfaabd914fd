import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';

/** What the scaffolded workflow names in `uses:`: this repository's action.yml, major version. */
export const DEFAULT_ACTION = 'marketer-dev/marketer@v1';

export function registerInit(program: Command): void {
  program
    .command('init')
    .description('Create a campaigns repository: marketer.yaml, an example campaign and template, a GitHub workflow')
    .argument('[dir]', 'folder to create it in (created if missing)', '.')
    .option('--force', 'overwrite files that already exist')
    .option('--action <ref>', 'the GitHub Action the workflow uses', DEFAULT_ACTION)
    .option('--json', 'print one JSON document')
    .addHelpText('after', `
Writes marketer.yaml (commented), campaigns/welcome.yaml, templates/layout.mjml,
subscribers.example.csv, .gitignore and .github/workflows/marketer.yml. Existing files are
listed and left alone unless --force. The result validates as it is: run marketer validate.

Examples:
  $ marketer init my-campaigns
  $ marketer init . --force`)
    .action(lazyAction(() => import('../commands/init.js'), (m) => m.initAction));
}
