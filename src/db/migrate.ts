import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import { schemaNotCurrent } from './schema-not-current.js';
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

export interface MigrateOptions {
  /** Apply the schema even when the database says it is current (`marketer db migrate`). */
  force?: boolean;
  /**
   * Never change the schema (`plan` and `apply --plan`, which may run as a read-only database
   * user): a current schema costs one SELECT, a missing or different one is a clear error.
   */
  readOnly?: boolean;
}

/**
 * Apply schema.sql (idempotent) and, where TimescaleDB is available, schema-timescale.sql.
 * Every command calls this, so the common case is one SELECT: the hash of the schema files
 * last applied is kept in marketer_meta, and the DDL runs only when they differ.
 */
export async function migrate(db: Kysely<Database>, options: MigrateOptions = {}): Promise<MigrateResult> {
  const schema = readFileSync(schemaPath('schema.sql'), 'utf8');
  const timescale = readFileSync(schemaPath('schema-timescale.sql'), 'utf8');
  const hash = createHash('sha256').update(schema).update('\0').update(timescale).digest('hex');
  if (!options.force) {
    const current = await readMeta(db);
    if (current?.hash === hash) return current.result;
    if (options.readOnly) throw schemaNotCurrent(current !== undefined);
  }
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK})`.execute(trx);
    await sql.raw(schema).execute(trx);
    const available = await sql<{ default_version: string; installed_version: string | null }>`
      SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'timescaledb'`.execute(trx);
    const ext = available.rows[0];
    let result: MigrateResult = { engine: 'postgres', timescaleVersion: undefined };
    if (ext) {
      if (!ext.installed_version) await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(trx);
      await sql.raw(timescale).execute(trx);
      result = { engine: 'timescaledb', timescaleVersion: ext.installed_version ?? ext.default_version };
    }
    await sql`
      INSERT INTO marketer_meta (key, value) VALUES ('schema', ${JSON.stringify({ hash, result })})
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`.execute(trx);
    return result;
  });
}

async function readMeta(db: Kysely<Database>): Promise<{ hash: string; result: MigrateResult } | undefined> {
  try {
    const { rows } = await sql<{ value: string }>`SELECT value FROM marketer_meta WHERE key = 'schema'`.execute(db);
    return rows[0] ? (JSON.parse(rows[0].value) as { hash: string; result: MigrateResult }) : undefined;
  } catch (err) {
    // 42P01: a database marketer has not set up yet.
    if ((err as { code?: string }).code === '42P01') return undefined;
    throw err;
  }
}
