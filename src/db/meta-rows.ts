import { sql, type Kysely } from 'kysely';
import type { Database } from './types.js';

/** marketer_meta's keys that a command reads when it opens the database. */
export const SCHEMA_META = 'schema';
export const ADDRESS_HASHES_META = 'address_hashes';
export const ADDRESS_HASH_KEYS_META = 'address_hash_keys';

/** Those rows (the keys present), and the server's shared_preload_libraries. */
export interface MetaRows {
  values: ReadonlyMap<string, string>;
  /** null where this database user may not read the setting (see readMetaRows). */
  preload: string | null;
}

/**
 * What opening the database needs to know, in one round trip: the schema's record (migrate),
 * the address-hash state (prepareAddressHashes) and shared_preload_libraries (whether TimescaleDB
 * could be loaded). Undefined on a database marketer has not set up yet.
 *
 * Only superusers and members of pg_read_all_settings may read shared_preload_libraries; for
 * anyone else current_setting() is an error, so it is asked only of them. (pg_settings, which
 * leaves such rows out instead, builds all ~350 settings first: 6 ms on a new connection here,
 * against under 2 for this.)
 */
export async function readMetaRows(db: Kysely<Database>): Promise<MetaRows | undefined> {
  try {
    const { rows } = await sql<{ key: string | null; value: string | null; preload: string | null }>`
      SELECT m.key, m.value, s.preload
      FROM (SELECT CASE WHEN pg_has_role('pg_read_all_settings', 'USAGE') THEN current_setting('shared_preload_libraries') END AS preload) s
      LEFT JOIN marketer_meta m ON m.key IN (${SCHEMA_META}, ${ADDRESS_HASHES_META}, ${ADDRESS_HASH_KEYS_META})`.execute(db);
    const values = new Map<string, string>();
    for (const r of rows) if (r.key !== null && r.value !== null) values.set(r.key, r.value);
    return { values, preload: rows[0]?.preload ?? null };
  } catch (err) {
    // 42P01: a database marketer has not set up yet.
    if ((err as { code?: string }).code === '42P01') return undefined;
    throw err;
  }
}
