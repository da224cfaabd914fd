import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withDbRetry } from '../src/db/retry.js';
import { runCli } from './helpers/cli.js';
import { createTestDb, type TestDb } from './helpers/db.js';

let t: TestDb;
beforeAll(async () => { t = await createTestDb(); });
afterAll(async () => t.close());

const raise = (state: string) => sql`DO $$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = '${sql.raw(state)}'; END $$`.execute(t.db);

describe('transient Postgres errors', () => {
  it('retries serialization failures and deadlocks until the statement goes through', async () => {
    let calls = 0;
    const result = await withDbRetry(async () => {
      calls += 1;
      if (calls === 1) await raise('40001');
      if (calls === 2) await raise('40P01');
      return (await sql<{ one: number }>`SELECT 1 AS one`.execute(t.db)).rows[0]?.one;
    }, { minTimeout: 5 });
    expect(result).toBe(1);
    expect(calls).toBe(3);
  });

  it('does not retry other errors', async () => {
    let calls = 0;
    await expect(withDbRetry(async () => {
      calls += 1;
      await raise('23505');
    }, { minTimeout: 5 })).rejects.toMatchObject({ code: '23505' });
    expect(calls).toBe(1);
  });

  it('names an unreachable DATABASE_URL with the password masked', async () => {
    const r = await runCli(['db', 'migrate'], { env: { DATABASE_URL: 'postgres://me:s3cret@127.0.0.1:1/nope' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Cannot use the database at postgres://me:***@127.0.0.1:1/nope');
    expect(r.stderr).not.toContain('s3cret');
  });
});
