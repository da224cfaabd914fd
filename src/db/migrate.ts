import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sql, type Kysely } from 'kysely';
import type { TimescaleSetting } from '../config/config.js';
import { enableTimescale, timescaleAvailability, type EnableOutcome } from './enable-timescale.js';
import { readMetaRows, SCHEMA_META, type MetaRows } from './meta-rows.js';
import { schemaNotCurrent } from './schema-not-current.js';
import { needsPreload, timescaleRequired, timescaleWarning, type TimescaleState } from './timescale-state.js';
import type { Database } from './types.js';

const schemaPath = (name: string) => fileURLToPath(new URL(`../../${name}`, import.meta.url));

export interface MigrateResult {
  /** 'timescaledb' when email_events is a hypertable, 'postgres' for plain tables. */
  engine: 'timescaledb' | 'postgres';
  timescaleVersion: string | undefined;
  /** What became of TimescaleDB here (recorded with the schema hash). */
  timescale: TimescaleState;
  /** One line for the user when email_events is plain although the server has TimescaleDB. */
  warning: string | undefined;
  /** Whether the schema files ran now (else the database was current, and nothing changed). */
  applied: boolean;
}

/** What marketer_meta keeps: the result without the warning (older versions kept no state). */
type Recorded = Pick<MigrateResult, 'engine' | 'timescaleVersion'> & { timescale?: TimescaleState };

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
  /** The `timescale` setting (default auto). */
  timescale?: TimescaleSetting;
  /** marketer_meta as just read (readMetaRows; undefined: not set up yet), instead of reading it here. */
  meta?: { rows: MetaRows | undefined };
}

/**
 * Apply schema.sql (idempotent) and, where TimescaleDB can be used, schema-timescale.sql.
 * Every command calls this, so the common case is one SELECT (on plain Postgres, a second one
 * looks whether the extension has appeared, unless shared_preload_libraries shows it still
 * cannot be loaded: see recordedState): the hash of the schema files last applied is
 * kept in marketer_meta, and the DDL runs only when they differ.
 *
 * A database first set up as plain Postgres is converted to a hypertable only when forced
 * (`marketer db migrate`): create_hypertable(migrate_data) rewrites email_events under a lock,
 * which an ordinary command should not start by surprise. Until then the result carries a
 * warning that says so.
 */
export async function migrate(db: Kysely<Database>, options: MigrateOptions = {}): Promise<MigrateResult> {
  const setting = options.timescale ?? 'auto';
  const schema = readFileSync(schemaPath('schema.sql'), 'utf8');
  const timescale = readFileSync(schemaPath('schema-timescale.sql'), 'utf8');
  const hash = createHash('sha256').update(schema).update('\0').update(timescale).digest('hex');
  const current = schemaRecord(options.meta ? options.meta.rows : await readMetaRows(db));
  if (!options.force && current?.hash === hash) {
    return finish(setting, current.result, await recordedState(db, setting, current.result, current.preload), false);
  }
  if (!options.force && options.readOnly) throw schemaNotCurrent(current !== undefined);
  let state: TimescaleState;
  if (setting === 'off') state = { status: 'off' };
  else if (!options.force && current?.result.engine === 'postgres') state = await recordedState(db, setting, current.result, current.preload);
  else state = fromOutcome(await enableTimescale(db, MIGRATE_LOCK));
  // Before anything changes: `require` without a usable extension leaves the database as it was.
  if (setting === 'require') {
    const refusal = timescaleRequired(state);
    if (refusal) throw refusal;
  }
  return db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK})`.execute(trx);
    await sql.raw(schema).execute(trx);
    if (state.status === 'hypertable') await sql.raw(timescale).execute(trx);
    const recorded: Recorded = state.status === 'off'
      ? { engine: current?.result.engine ?? 'postgres', timescaleVersion: current?.result.timescaleVersion, timescale: state }
      : { engine: state.status === 'hypertable' ? 'timescaledb' : 'postgres', timescaleVersion: state.status === 'hypertable' ? state.version : undefined, timescale: state };
    await sql`
      INSERT INTO marketer_meta (key, value) VALUES (${SCHEMA_META}, ${JSON.stringify({ hash, result: recorded })})
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`.execute(trx);
    return finish(setting, recorded, state, true);
  });
}

function fromOutcome(outcome: EnableOutcome): TimescaleState {
  return outcome.status === 'ready' ? { status: 'hypertable', version: outcome.version } : outcome;
}

/**
 * The state of a database whose schema is not being applied now: a hypertable stays one;
 * a plain table is worth a word when the extension has appeared since (or is still unusable).
 * `preload` is the server's shared_preload_libraries (null where this user may not see it).
 */
async function recordedState(db: Kysely<Database>, setting: TimescaleSetting, recorded: Recorded, preload: string | null): Promise<TimescaleState> {
  if (setting === 'off') return { status: 'off' };
  if (recorded.engine === 'timescaledb') return { status: 'hypertable', version: recorded.timescaleVersion ?? 'unknown' };
  const before = recorded.timescale;
  // TimescaleDB runs only with its loader in shared_preload_libraries, which takes a restart to
  // change: without it, a server that had no usable extension still has none, and the look-up
  // below (it reads every extension's control file on the server) is skipped.
  if (setting === 'auto' && preload !== null && !/timescaledb/i.test(preload) && (before?.status === 'absent' || (before?.status === 'unusable' && needsPreload(before.reason)))) return before;
  const available = await timescaleAvailability(db);
  if (!available) return { status: 'absent' };
  // The same version still not created: it failed last time and would again (a new version or
  // a CREATE EXTENSION by the database owner is worth another try, by `db migrate`).
  if (before?.status === 'unusable' && before.version === available.version && !available.installed) return before;
  return { status: 'not-converted', version: available.version };
}

function finish(setting: TimescaleSetting, recorded: Recorded, state: TimescaleState, applied: boolean): MigrateResult {
  if (setting === 'require') {
    const refusal = timescaleRequired(state);
    if (refusal) throw refusal;
  }
  return { engine: recorded.engine, timescaleVersion: recorded.timescaleVersion, timescale: state, warning: timescaleWarning(state), applied };
}

/** The schema's record in marketer_meta, with shared_preload_libraries (for recordedState). */
function schemaRecord(meta: MetaRows | undefined): { hash: string; result: Recorded; preload: string | null } | undefined {
  const value = meta?.values.get(SCHEMA_META);
  return value === undefined ? undefined : { ...(JSON.parse(value) as { hash: string; result: Recorded }), preload: meta!.preload };
}
