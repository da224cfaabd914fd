import type { Command } from 'commander';
import type { MigrateResult } from '../../db/migrate.js';
import { commandContext, withDatabase } from '../context.js';

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
    .action(async (_opts, cmd: Command) => {
      const ctx = commandContext(cmd);
      await withDatabase(ctx, async ({ migration, embedded }) => {
        const engine = migration?.engine ?? 'postgres';
        if (ctx.out.json) {
          ctx.out.printJson({ engine, timescaledb: migration?.timescaleVersion ?? null, timescale: migration?.timescale.status ?? null, embedded: Boolean(embedded) });
          return;
        }
        ctx.out.info(migrateSummary(migration));
      }, { migrate: 'force' });
    });
}

function migrateSummary(m: MigrateResult | undefined): string {
  if (m?.engine === 'timescaledb') {
    return `Schema up to date. email_events is a TimescaleDB hypertable (timescaledb ${m.timescaleVersion}) with compression and an hourly continuous aggregate.`;
  }
  const plain = 'Schema up to date. email_events is a plain table (indexed by campaign and time)';
  switch (m?.timescale.status) {
    case 'off': return `${plain}: timescale is off.`;
    case 'unusable': return `${plain}: TimescaleDB cannot be used on this server (see the warning above).`;
    default: return `${plain}: TimescaleDB is not available here.`;
  }
}
