import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importSubscribers } from '../../src/subscribers/import-subscribers.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.close();
});

const csv = (rows: number) => Readable.from([`email,first_name\n${Array.from({ length: rows }, (_, i) => `p${i}@example.com,P${i}`).join('\n')}\n`]);

describe('an import that fails while its COPY is open', () => {
  it('fails with its error, writes nothing, and leaves the connection and the import lock usable', async () => {
    // The progress callback runs between rows, after the COPY into the staging table began.
    const failing = importSubscribers(t.pool, {
      file: 'big.csv', input: csv(3_000), defaultTimezone: 'UTC',
      onProgress: ({ rows }) => {
        if (rows === 2_000) throw new Error('the reader went away');
      },
    });
    await expect(failing).rejects.toThrow('the reader went away');
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM subscribers`.execute(t.db);
    expect(rows[0]!.n).toBe(0);
    // Every connection of the pool, the failed import's among them, still answers; the next
    // import takes the lock and writes its rows.
    await Promise.all(Array.from({ length: 5 }, () => t.pool.query('SELECT 1')));
    const ok = await importSubscribers(t.pool, { file: 'small.csv', input: csv(10), defaultTimezone: 'UTC' });
    expect(ok.inserted).toBe(10);
  }, 60_000);
});
