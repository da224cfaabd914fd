import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import type { Database } from './types.js';

const schemaPath = (name: string) => fileURLToPath(new URL(`../../${name}`, import.meta.url));

export interface MigrateResult {
  /** 'timescaledb' when email_events is a hypertable, 'postgres' for plain tables. */
  engine: 'timescaledb' | 'postgres';
  timescaleVersion: string | undefined;
}

// Two commands starting at once would race on CREATE TABLE IF NOT EXISTS (it can still fail
// on the catalog's unique index), so migrations hold a transaction-scoped advisory lock.
const MIGRATE_LOCK = 7_301_991;

/** Apply schema.sql (idempotent) and, where TimescaleDB is available, schema-timescale.sql. */
export async function migrate(db: Kysely<Database>): Promise<MigrateResult> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK})`.execute(trx);
    await sql.raw(readFileSync(schemaPath('schema.sql'), 'utf8')).execute(trx);
    const available = await sql<{ default_version: string; installed_version: string | null }>`
      SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'timescaledb'`.execute(trx);
    const ext = available.rows[0];
    if (!ext) return { engine: 'postgres', timescaleVersion: undefined };
    if (!ext.installed_version) await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(trx);
    await sql.raw(readFileSync(schemaPath('schema-timescale.sql'), 'utf8')).execute(trx);
    return { engine: 'timescaledb', timescaleVersion: ext.installed_version ?? ext.default_version };
  });
}
