import type { Command } from 'commander';
import { commandContext, withDatabase } from '../context.js';

export function registerDb(program: Command): void {
  const db = program.command('db').description('Database maintenance');
  db.command('migrate')
    .description('Create or update the schema (safe to run again; every command also does it)')
    .option('--json', 'print one JSON document')
    .addHelpText('after', '\nExample:\n  $ DATABASE_URL=postgres://localhost/marketer marketer db migrate\n')
    .action(async (_opts, cmd: Command) => {
      const ctx = commandContext(cmd);
      await withDatabase(ctx, async ({ migration, embedded }) => {
        const engine = migration?.engine ?? 'postgres';
        if (ctx.out.json) {
          ctx.out.printJson({ engine, timescaledb: migration?.timescaleVersion ?? null, embedded: Boolean(embedded) });
          return;
        }
        ctx.out.info(
          engine === 'timescaledb'
            ? `Schema up to date. email_events is a TimescaleDB hypertable (timescaledb ${migration?.timescaleVersion}) with compression and an hourly continuous aggregate.`
            : 'Schema up to date. TimescaleDB is not available here: email_events is a plain table (indexed by campaign and time).',
        );
      }, { migrate: 'force' });
    });
}
