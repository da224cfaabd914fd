import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';

export function registerSubscribers(program: Command): void {
  const subscribers = program.command('subscribers').description('One person\'s data: show, export (access requests), unsubscribe, forget (erasure requests)');

  subscribers
    .command('show')
    .description('What we hold about one address: subscriber row, consent, suppression, counts')
    .argument('<email>', 'the address (any case)')
    .option('--json', 'print one JSON document (the same as export --json)')
    .addHelpText('after', '\nExample:\n  $ marketer subscribers show jane@example.com\n')
    .action(lazyAction(() => import('../commands/subscribers.js'), (m) => m.subscribersShowAction));

  subscribers
    .command('export')
    .description('Everything we hold about one address, every delivery and event: the answer to an access request')
    .argument('<email>', 'the address (any case)')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
The JSON document holds the subscriber row with its consent record, tags and attributes, every
delivery (campaign, status, times), every stored event (type, time, link) and the suppression,
if any. See docs/privacy.md.

Examples:
  $ marketer subscribers export jane@example.com --json > jane.json
  $ marketer subscribers export jane@example.com
`,
    )
    .action(lazyAction(() => import('../commands/subscribers.js'), (m) => m.subscribersExportAction));

  subscribers
    .command('unsubscribe')
    .description('Unsubscribe and suppress addresses, as the one-click link does')
    .argument('<email...>', 'one or more addresses')
    .option('--json', 'print one JSON document')
    .addHelpText('after', '\nAn address with no subscriber is suppressed all the same, so a later import skips it.\n\nExample:\n  $ marketer subscribers unsubscribe jane@example.com joe@example.org --json\n')
    .action(lazyAction(() => import('../commands/subscribers.js'), (m) => m.subscribersUnsubscribeAction));

  subscribers
    .command('forget')
    .description('Erase people: every table and stored payload, keeping campaign figures and a keyed hash that blocks re-import')
    .argument('[email...]', 'addresses to erase')
    .option('--file <list.csv>', 'addresses from a CSV with an "email" column, or one per line')
    .option('--no-vacuum', 'skip the VACUUM that removes the old row versions at once (autovacuum does it later)')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
Afterwards no table, index or stored event holds the address, name, attributes or consent IP.
Deliveries and events keep campaign, status, times and type, so campaign figures do not change;
a keyed hash of the address stays in the suppression list, so it is never imported (counted as
"suppressed") or mailed again. An audit row records when and how many rows, never who.

--json prints {"forgotten":n,"not_found":n,"rows":{"subscribers":n,"deliveries":n,"events":n,"suppressions":n}}.

Examples:
  $ marketer subscribers forget jane@example.com
  $ marketer subscribers forget --file erasure-requests.csv --json
`,
    )
    .action(lazyAction(() => import('../commands/subscribers.js'), (m) => m.subscribersForgetAction));
}
