import type { Command } from 'commander';
import { SAMPLE_RECIPIENT } from '../../campaigns/sample-recipient.js';
import { lazyAction } from './lazy-action.js';

export function registerPreview(program: Command): void {
  program
    .command('preview')
    .description('Render a campaign for one recipient (a subscriber, or a built-in sample) to a file or stdout')
    .argument('<campaign>', 'campaign file, e.g. campaigns/weekly.yaml')
    .option('--email <address>', 'render for this subscriber (read from the database)')
    .option('--sample', `render for the built-in sample subscriber (${SAMPLE_RECIPIENT.email}); the default`)
    .option('-o, --out <file>', 'write the message here instead of stdout')
    .option('--text', 'the text part instead of the HTML')
    .option('--variant <name>', 'an A/B test variant (default: the first)')
    .option('--json', 'print one JSON document (the message and its details)')
    .addHelpText('after', `
Examples:
  $ marketer preview campaigns/weekly.yaml --out /tmp/weekly.html && open /tmp/weekly.html
  $ marketer preview campaigns/weekly.yaml --email jane@example.com --text
  $ marketer preview campaigns/weekly.yaml --json | jq .subject
  $ marketer preview campaigns/weekly.yaml --variant b --sample

Subject, preheader, size and links go to stderr when the message itself goes to stdout.
`)
    .action(lazyAction(() => import('../commands/preview.js'), (m) => m.previewAction));
}
