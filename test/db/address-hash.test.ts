import { createHash } from 'node:crypto';
import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { addressHashKeys, hashAddress, keysForSecret, prepareAddressHashes, sessionOptions, type AddressHashKeys } from '../../src/db/address-hash.js';
import type { Database } from '../../src/db/types.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

let t: TestDb;
const open: Kysely<Database>[] = [];

function connect(keys: AddressHashKeys): Kysely<Database> {
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: t.url, max: 2, options: sessionOptions(keys) }) }) });
  open.push(db);
  return db;
}

beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  for (const db of open) await db.destroy();
  await t?.close();
});

const A = keysForSecret('secret-a');
const B = keysForSecret('secret-b');

describe('keyed address hashes', () => {
  it('the SQL function is HMAC-SHA256(key, sha256(lower(address))), never the bare hash', async () => {
    const db = connect(A);
    const r = await sql<{ h: Buffer }>`SELECT marketer_address_hash('Jane@Example.com') AS h`.execute(db);
    expect(r.rows[0]!.h.equals(hashAddress(A.current, 'jane@example.com'))).toBe(true);
    expect(r.rows[0]!.h.equals(createHash('sha256').update('jane@example.com').digest())).toBe(false);
    const other = await sql<{ h: Buffer }>`SELECT marketer_address_hash('jane@example.com') AS h`.execute(connect(B));
    expect(other.rows[0]!.h.equals(r.rows[0]!.h)).toBe(false);
  });

  it('converts a database of bare sha256 hashes in place, once', async () => {
    await sql`TRUNCATE suppressions`.execute(t.db);
    await sql`INSERT INTO suppressions (email_hash, reason) VALUES (sha256(convert_to('old@example.com', 'UTF8')), 'unsubscribed')`.execute(t.db);
    await sql`UPDATE marketer_meta SET value = 'bare' WHERE key = 'address_hashes'`.execute(t.db);
    await sql`DELETE FROM marketer_meta WHERE key = 'address_hash_keys'`.execute(t.db);
    const db = connect(A);
    await prepareAddressHashes(db, A);
    await prepareAddressHashes(db, A);
    const rows = await sql<{ email_hash: Buffer }>`SELECT email_hash FROM suppressions`.execute(db);
    expect(rows.rows.map((r) => r.email_hash.toString('hex'))).toEqual([hashAddress(A.current, 'old@example.com').toString('hex')]);
  });

  it('refuses a changed secret, and accepts it with the old one kept as previous', async () => {
    await expect(prepareAddressHashes(connect(B), B)).rejects.toMatchObject({ code: 'HASH_SECRET_CHANGED' });
    const rotated: AddressHashKeys = { current: B.current, previous: A.current };
    const db = connect(rotated);
    await prepareAddressHashes(db, rotated);
    const seen = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM suppressions
      WHERE email_hash IN (marketer_address_hash('OLD@example.com'), marketer_address_hash_previous('OLD@example.com'))`.execute(db);
    expect(seen.rows[0]!.n).toBe(1);
  });

  it('says which secret it uses, and refuses a database of your own without one', () => {
    const cfg = (env: Record<string, string>) => loadConfig({ cwd: '/nonexistent-dir', env });
    expect(addressHashKeys(cfg({ DATABASE_URL: 'postgres://x/y', MARKETER_HASH_SECRET: 'h' })).current.source).toBe('MARKETER_HASH_SECRET');
    expect(addressHashKeys(cfg({ DATABASE_URL: 'postgres://x/y', MARKETER_UNSUBSCRIBE_SECRET: 'u' })).current.source).toBe('derived from MARKETER_UNSUBSCRIBE_SECRET');
    expect(() => addressHashKeys(cfg({ DATABASE_URL: 'postgres://x/y' }))).toThrow(expect.objectContaining({ code: 'HASH_SECRET_MISSING' }));
    const prev = addressHashKeys(cfg({ DATABASE_URL: 'postgres://x/y', MARKETER_HASH_SECRET: 'h', MARKETER_HASH_SECRET_PREVIOUS: 'unsubscribe:u' }));
    expect(prev.previous?.id).toBe(addressHashKeys(cfg({ DATABASE_URL: 'postgres://x/y', MARKETER_UNSUBSCRIBE_SECRET: 'u' })).current.id);
  });
});
