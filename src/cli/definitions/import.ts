import { Option, type Command } from 'commander';
import { lazyAction } from './lazy-action.js';

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('Import subscribers from a CSV file into Postgres (streamed; re-import is safe)')
    .argument('<file.csv>', 'CSV with a header row and an "email" column')
    .addOption(new Option('--delimiter <char>', 'field delimiter (default: detected from the header)').choices([',', ';', 'tab']))
    .option('--source <name>', 'consent source stored on rows without a "source" column value')
    .option('--tag <tag>', 'add a tag to every imported row (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--dry-run', 'check the file and report what would change, writing nothing')
    .option('--strict-timezone', 'reject rows with an unknown time zone (default: import with the default zone and a warning)')
    .option('--reject-risky', 'reject role accounts (postmaster@, abuse@, …) and disposable domains (default: import with a warning)')
    .option('--rejects <file>', 'write every rejected row, with its line and reason, to this CSV file')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
CSV columns (header names, case-insensitive):
  email                    required
  first_name, last_name    optional
  timezone                 IANA zone, e.g. Europe/Berlin (default: default_timezone, UTC)
  tags                     ;-separated, e.g. "newsletter;beta"
  source, consent_at (ISO-8601), consent_ip, consent_text
  anything else            stored in attributes, usable in templates as attributes.<name>

Re-importing never re-activates an unsubscribed, bounced, complained or forgotten address.

Limits per row: 64 KB in all; first_name, last_name, source, consent_ip and each tag 256
characters; an attribute value or consent_text 4 KB. A row over a limit, with a NUL byte or
with bytes that are not UTF-8 is rejected with its line and reason; an impossible consent_at
(2026-02-30) or a name with control characters is dropped with a warning. The --rejects file
cannot be the input file, and its formula-like cells (=, +, -, @) start with ' (exit 2 if it
cannot be written). Exit codes: 0 imported (whatever was rejected), 1 failure, 2 bad input.

Examples:
  $ marketer import subscribers.csv --source signup-form --tag newsletter
  $ marketer import export.csv --delimiter ';' --dry-run
  $ marketer import list.csv --rejects rejected.csv --json`,
    )
    .action(lazyAction(() => import('../commands/import.js'), (m) => m.importAction));
}
