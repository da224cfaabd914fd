import type { Command } from 'commander';
import type { MigrateResult } from '../../db/migrate.js';
import { commandContext, withDatabase } from '../context.js';

export async function dbMigrateAction(_opts: unknown, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  await withDatabase(ctx, async ({ migration, embedded }) => {
    const engine = migration?.engine ?? 'postgres';
    if (ctx.out.json) {
      ctx.out.printJson({ engine, timescaledb: migration?.timescaleVersion ?? null, timescale: migration?.timescale.status ?? null, embedded: Boolean(embedded) });
      return;
    }
    ctx.out.info(migrateSummary(migration));
  }, { migrate: 'force' });
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
