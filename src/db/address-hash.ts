import { createHash, createHmac, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import type { Config } from '../config/config.js';
import { MarketerError, inputError } from '../errors.js';
import { ADDRESS_HASH_KEYS_META, ADDRESS_HASHES_META, type MetaRows } from './meta-rows.js';
import type { Database } from './types.js';

/**
 * Addresses are never stored as a bare hash (anyone with a list of addresses could reverse
 * that): suppressions and event recipients hold HMAC-SHA256(key, sha256(lower(address))).
 * Hashing the SHA-256 rather than the address itself lets a database written by older versions
 * (bare sha256) be converted in place, without the addresses.
 *
 * The key never enters the database. Each connection carries it as a session setting (a
 * startup option, not a statement, so statement logging does not see it), and SQL functions in
 * schema.sql compute the HMAC from it, so every query that matches addresses stays one statement.
 */

export type KeySource = 'MARKETER_HASH_SECRET' | 'derived from MARKETER_UNSUBSCRIBE_SECRET' | 'data folder' | 'none (read-only)';

export interface AddressHashKey {
  key: Buffer;
  source: KeySource;
  /** A fingerprint that names the key without revealing it, recorded in marketer_meta. */
  id: string;
}

export interface AddressHashKeys {
  current: AddressHashKey;
  /** Hashes written under an earlier key still match (rotation; see docs/privacy.md). */
  previous: AddressHashKey | undefined;
}

const DERIVE_LABEL = 'marketer address hash key v1';
export const KEY_FILE = 'address-hash.key';

function keyFrom(secret: string | Buffer, source: KeySource): AddressHashKey {
  const key = Buffer.isBuffer(secret) ? secret : Buffer.from(secret, 'utf8');
  return { key, source, id: createHmac('sha256', key).update('marketer key id').digest('hex').slice(0, 16) };
}

function derived(unsubscribeSecret: string): AddressHashKey {
  return keyFrom(createHmac('sha256', unsubscribeSecret).update(DERIVE_LABEL).digest(), 'derived from MARKETER_UNSUBSCRIBE_SECRET');
}

/** The key of the embedded database's data folder, made (0600) on first use. */
function dataFolderKey(dataDir: string, create: boolean): AddressHashKey | undefined {
  const file = path.join(dataDir, KEY_FILE);
  if (!existsSync(file)) {
    if (!create) return undefined;
    // The folder keeps its usual mode: as root, the embedded server's own user must pass through it.
    mkdirSync(dataDir, { recursive: true });
    try {
      writeFileSync(file, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err; // made meanwhile by another command
    }
  }
  chmodSync(file, 0o600);
  return keyFrom(readFileSync(file, 'utf8').trim(), 'data folder');
}

/**
 * The key for this configuration: MARKETER_HASH_SECRET; else derived from
 * MARKETER_UNSUBSCRIBE_SECRET; else, for the embedded database only, a random key kept in its
 * data folder. A database of your own (DATABASE_URL) with neither secret is refused.
 */
export function addressHashKeys(config: Config, options: { readOnly?: boolean } = {}): AddressHashKeys {
  let current: AddressHashKey;
  if (config.hashSecret) current = keyFrom(config.hashSecret, 'MARKETER_HASH_SECRET');
  else if (config.unsubscribeSecret) current = derived(config.unsubscribeSecret);
  else if (!config.databaseUrl) current = dataFolderKey(config.dataDir, true)!;
  else if (options.readOnly) {
    // A pull request's plan holds no secrets and writes nothing: a throwaway key matches no stored
    // hash, so only the subscribers' own status excludes the suppressed (the import and the
    // unsubscribe paths set it too), and the audience it shows can only err on the high side.
    current = keyFrom(randomBytes(32), 'none (read-only)');
  } else {
    throw inputError('HASH_SECRET_MISSING', 'No secret to hash addresses with: suppressions and event recipients are stored as keyed hashes.', {
      hint: 'Set MARKETER_HASH_SECRET (e.g. `openssl rand -hex 32`) or MARKETER_UNSUBSCRIBE_SECRET in the environment, and keep it: see docs/privacy.md.',
    });
  }
  let previous: AddressHashKey | undefined;
  const old = config.hashSecretPrevious;
  if (old) previous = old.startsWith('unsubscribe:') ? derived(old.slice('unsubscribe:'.length)) : keyFrom(old, 'MARKETER_HASH_SECRET');
  else if (current.source !== 'data folder' && !config.databaseUrl) previous = dataFolderKey(config.dataDir, false);
  return { current, previous: previous && previous.id !== current.id ? previous : undefined };
}

/** The keys for one MARKETER_HASH_SECRET (tools and tests). */
export function keysForSecret(secret: string): AddressHashKeys {
  return { current: keyFrom(secret, 'MARKETER_HASH_SECRET'), previous: undefined };
}

/** HMAC-SHA256(key, sha256(lower(address))): what marketer_address_hash() computes in SQL. */
export function hashAddress(key: AddressHashKey, address: string): Buffer {
  return createHmac('sha256', key.key).update(createHash('sha256').update(address.toLowerCase(), 'utf8').digest()).digest();
}

/** HMAC key blocks for the SQL side: (K ⊕ ipad) ‖ (K ⊕ opad), hex. */
function sqlKey(key: AddressHashKey): string {
  const block = Buffer.alloc(64);
  (key.key.length > 64 ? createHash('sha256').update(key.key).digest() : key.key).copy(block);
  const inner = Buffer.from(block.map((b) => b ^ 0x36));
  const outer = Buffer.from(block.map((b) => b ^ 0x5c));
  return Buffer.concat([inner, outer]).toString('hex');
}

/** Session settings for a connection: pass as the `options` connection parameter. */
export function sessionOptions(keys: AddressHashKeys): string {
  return `-c marketer.address_key=${sqlKey(keys.current)}${keys.previous ? ` -c marketer.address_key_previous=${sqlKey(keys.previous)}` : ''}`;
}

/** The same as SET statements (for single-connection engines such as PGlite in tests). */
export function sessionSetStatements(keys: AddressHashKeys): string {
  return `SET marketer.address_key = '${sqlKey(keys.current)}'; SET marketer.address_key_previous = '${keys.previous ? sqlKey(keys.previous) : ''}';`;
}

const LOCK = 7_301_992;

/**
 * Before the first use of a key on a database: convert hashes written by older versions (bare
 * sha256; schema.sql marks such a database 'bare') and record the key's fingerprint. On every
 * use: refuse a key that would not match the stored hashes, so that a changed secret can never
 * let a suppressed or forgotten address be imported or mailed again.
 */
export async function prepareAddressHashes(db: Kysely<Database>, keys: AddressHashKeys, meta?: MetaRows): Promise<void> {
  const known = meta ? stateOf(meta.values) : await readState(db);
  if (known.state !== 'bare' && known.ids.includes(keys.current.id) && unknownIds(known.ids, keys).length === 0) return;
  await db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(${LOCK})`.execute(trx);
    const { state, ids } = await readState(trx);
    const unknown = unknownIds(ids, keys);
    if (unknown.length > 0) {
      throw new MarketerError('HASH_SECRET_CHANGED', `The address-hash secret (${keys.current.source}) is not the one this database's suppressions were written with: suppressed and forgotten addresses would no longer be recognised.`, {
        exitCode: 2,
        hint: 'Restore the earlier secret, or keep it as MARKETER_HASH_SECRET_PREVIOUS beside the new one (prefix it with "unsubscribe:" if it was MARKETER_UNSUBSCRIBE_SECRET). See docs/privacy.md, "Rotating the hash secret".',
      });
    }
    if (state === 'bare') {
      // Written by a version that stored sha256(lower(address)): key it in place, once.
      await sql`UPDATE suppressions SET email_hash = marketer_keyed(email_hash)`.execute(trx);
      await sql`UPDATE email_events SET recipient_hash = marketer_keyed(recipient_hash) WHERE recipient_hash IS NOT NULL`.execute(trx);
    }
    await sql`
      INSERT INTO marketer_meta (key, value) VALUES (${ADDRESS_HASHES_META}, 'keyed'), (${ADDRESS_HASH_KEYS_META}, ${JSON.stringify([...new Set([...ids, keys.current.id])])})
      ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value`.execute(trx);
  });
}

function unknownIds(ids: string[], keys: AddressHashKeys): string[] {
  return ids.filter((id) => id !== keys.current.id && id !== keys.previous?.id);
}

async function readState(db: Kysely<Database>): Promise<{ state: string | undefined; ids: string[] }> {
  const { rows } = await sql<{ key: string; value: string }>`SELECT key, value FROM marketer_meta WHERE key IN (${ADDRESS_HASHES_META}, ${ADDRESS_HASH_KEYS_META})`.execute(db);
  return stateOf(new Map(rows.map((r) => [r.key, r.value])));
}

/** The address-hash state in marketer_meta's rows (readState, or readMetaRows when opening). */
function stateOf(values: ReadonlyMap<string, string>): { state: string | undefined; ids: string[] } {
  const ids = values.get(ADDRESS_HASH_KEYS_META);
  return { state: values.get(ADDRESS_HASHES_META), ids: ids ? (JSON.parse(ids) as string[]) : [] };
}
