import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionOptions } from '../../src/db/address-hash.js';
import { PreparingClient } from '../../src/db/prepared-statements.js';
import type { Database } from '../../src/db/types.js';
import { ingestRecords } from '../../src/events/ingest-events.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { TEST_HASH_KEYS } from '../helpers/hash-key.js';

let t: TestDb;
let db: Kysely<Database>;

// One connection, so that every statement below meets the same session's prepared statements.
beforeAll(async () => {
  t = await createTestDb();
  const pool = new pg.Pool({ connectionString: t.url, max: 1, options: sessionOptions(TEST_HASH_KEYS), Client: PreparingClient });
  db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
});
afterAll(async () => {
  await db?.destroy();
  await t?.close();
});

async function prepared(): Promise<string[]> {
  const r = await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements ORDER BY prepare_time`.execute(db);
  return r.rows.map((x) => x.statement);
}

describe('statements marked /* prepared */', () => {
  it('are prepared once per connection and run by name with each call’s own values', async () => {
    const add = (n: number) => sql<{ n: number }>`/* prepared */ SELECT ${n}::int + 1 AS n`.execute(db);
    expect((await add(1)).rows).toEqual([{ n: 2 }]);
    expect((await add(41)).rows).toEqual([{ n: 42 }]);
    expect((await add(-5)).rows).toEqual([{ n: -4 }]);
    expect(await prepared()).toEqual(['/* prepared */ SELECT $1::int + 1 AS n']);
  });

  it('leave unmarked statements and statements without values as they were', async () => {
    const before = await prepared();
    await sql`SELECT ${3}::int AS n`.execute(db);
    await sql`/* prepared */ SELECT 1 AS n`.execute(db);
    expect(await prepared()).toEqual(before);
  });

  it('still run after a failed transaction, whether the statement failed or could not even be prepared there', async () => {
    const divide = (n: number) => sql<{ q: number }>`/* prepared */ SELECT 10 / ${n}::int AS q`.execute(db);
    // Prepared, then its run fails: the statement stays prepared and runs again.
    await expect(db.transaction().execute((trx) => sql`/* prepared */ SELECT 10 / ${0}::int AS q`.execute(trx))).rejects.toThrow(/division by zero/);
    expect((await divide(5)).rows).toEqual([{ q: 2 }]);
    // Sent for the first time inside a transaction that already failed: Postgres refuses to
    // prepare it, and the next use prepares it again instead of naming a statement that does not exist.
    const times = (n: number) => sql<{ p: number }>`/* prepared */ SELECT 10 * ${n}::int AS p`;
    await expect(db.transaction().execute(async (trx) => {
      await sql`SELECT 1 / 0`.execute(trx).catch(() => undefined);
      await times(2).execute(trx);
    })).rejects.toThrow(/current transaction is aborted/);
    expect((await times(3).execute(db)).rows).toEqual([{ p: 30 }]);
  });

  it('include the ingest’s per-batch statements, which store the same events either way', async () => {
    const record = (i: number) => ({
      eventType: 'Open',
      mail: { timestamp: '2026-12-01T08:00:00.000Z', messageId: `m-${i}`, destination: [`p${i}@example.com`], tags: {} },
      open: { timestamp: `2026-12-01T08:00:0${i}.000Z` },
    });
    const batch = (from: number) => [0, 1, 2].map((k) => ({ position: `line ${from + k}`, record: record(from + k), snsMessageId: undefined }));
    const first = await ingestRecords(db, batch(1), { softBounceLimit: 3 });
    const second = await ingestRecords(db, batch(4), { softBounceLimit: 3 });
    const again = await ingestRecords(db, batch(1), { softBounceLimit: 3 });
    expect([first.ingested, second.ingested, again.ingested, again.duplicates]).toEqual([3, 3, 0, 3]);
    const stored = await sql<{ n: number }>`SELECT count(*)::int AS n FROM email_events`.execute(db);
    expect(stored.rows[0]!.n).toBe(6);
    expect((await prepared()).some((s) => s.includes('INSERT INTO email_events'))).toBe(true);
  });
});
