import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';

export function registerDb(program: Command): void {
  const db = program.command('db').description('Database maintenance');
  db.command('migrate')
    .description('Create or update the schema, and make email_events a TimescaleDB hypertable where the extension can be used (safe to run again)')
    .option('--json', 'print one JSON document')
    .addHelpText('after', `
Other commands create the schema on a new database and keep it current, but only db migrate
converts an existing plain email_events table to a hypertable (it rewrites the table).
The timescale setting (auto | off | require, or MARKETER_TIMESCALE) decides whether to try.

Example:
  $ DATABASE_URL=postgres://localhost/marketer marketer db migrate
`)
    .action(lazyAction(() => import('../commands/db.js'), (m) => m.dbMigrateAction));
}
