import { sql, type Kysely } from 'kysely';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/types.js';
import { MarketerError } from '../../src/errors.js';
import { createTimescaleDb } from '../fixtures/ses/pglite-timescale.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

/**
 * When email_events becomes a hypertable. The TimescaleDB side runs on PGlite built with
 * TimescaleDB (a real extension, in-process); the plain side on the embedded Postgres.
 */
let db: Kysely<Database> | undefined;
let t: TestDb | undefined;

afterEach(async () => {
  await db?.destroy();
  db = undefined;
});
afterAll(async () => {
  await t?.close();
});

const hypertables = async (k: Kysely<Database>) =>
  (await sql<{ hypertable_name: string }>`SELECT hypertable_name FROM timescaledb_information.hypertables`.execute(k)).rows.map((r) => r.hypertable_name);
const extension = async (k: Kysely<Database>) =>
  (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'`.execute(k)).rows[0]?.n;

async function addEvent(k: Kysely<Database>, id: string): Promise<void> {
  await sql`INSERT INTO campaigns (id, name, file, content_hash) VALUES (1, 'c', 'c.yaml', 'h') ON CONFLICT DO NOTHING`.execute(k);
  await sql`INSERT INTO email_events (time, campaign_id, event_type, dedupe_key) VALUES (now() - interval '3 days', 1, 'Open', ${id})`.execute(k);
}

describe('TimescaleDB conversion', () => {
  it('a new database on a server with the extension gets the hypertable from its first command', async () => {
    db = await createTimescaleDb();
    const m = await migrate(db);
    expect(m).toMatchObject({ engine: 'timescaledb', timescale: { status: 'hypertable' }, warning: undefined });
    expect(await hypertables(db)).toContain('email_events');
    // The next command costs the one SELECT and still knows.
    expect(await migrate(db, { timescale: 'require' })).toMatchObject({ engine: 'timescaledb', warning: undefined });
  }, 120_000);

  it('a plain database is converted only by db migrate (forced), keeping its events; until then the result carries the one warning', async () => {
    db = await createTimescaleDb();
    // Set up as plain Postgres (timescale: off never touches the extension).
    expect(await migrate(db, { timescale: 'off' })).toMatchObject({ engine: 'postgres', timescale: { status: 'off' }, warning: undefined });
    expect(await extension(db)).toBe(0);
    await addEvent(db, 'e1');

    // Back to auto: an ordinary command says what to do and changes nothing.
    const ordinary = await migrate(db);
    expect(ordinary.engine).toBe('postgres');
    expect(ordinary.timescale.status).toBe('not-converted');
    expect(ordinary.warning).toMatch(/^TimescaleDB \S+ is available on this Postgres server, but email_events is still a plain table: run `marketer db migrate` to make it a hypertable/);
    expect(await extension(db)).toBe(0);
    // Also when this version's schema differs from the recorded one (an upgrade): the schema is
    // applied, the table is left plain.
    await sql`UPDATE marketer_meta SET value = jsonb_set(value::jsonb, '{hash}', '"older"')::text WHERE key = 'schema'`.execute(db);
    expect(await migrate(db)).toMatchObject({ engine: 'postgres', timescale: { status: 'not-converted' } });
    expect(await extension(db)).toBe(0);
    // require refuses with the fix.
    await expect(migrate(db, { timescale: 'require' })).rejects.toThrow(/^timescale is set to require, but email_events is still a plain table: run `marketer db migrate`/);

    const forced = await migrate(db, { force: true });
    expect(forced).toMatchObject({ engine: 'timescaledb', timescale: { status: 'hypertable' }, warning: undefined });
    expect(await hypertables(db)).toContain('email_events');
    const events = await sql<{ dedupe_key: string }>`SELECT dedupe_key FROM email_events`.execute(db);
    expect(events.rows).toEqual([{ dedupe_key: 'e1' }]);
    expect(await migrate(db)).toMatchObject({ engine: 'timescaledb', warning: undefined });
  }, 120_000);

  it('plain Postgres without the extension: auto says nothing, require refuses before changing anything', async () => {
    t = await createTestDb();
    expect(await migrate(t.db)).toMatchObject({ engine: 'postgres', timescale: { status: 'absent' }, warning: undefined });
    expect(await migrate(t.db, { force: true })).toMatchObject({ engine: 'postgres', timescale: { status: 'absent' }, warning: undefined });
    let refusal: unknown;
    try {
      await migrate(t.db, { force: true, timescale: 'require' });
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(MarketerError);
    expect((refusal as MarketerError).exitCode).toBe(2);
    expect((refusal as MarketerError).message).toBe('timescale is set to require, but this Postgres server has no timescaledb extension: install TimescaleDB on it (or use a Timescale service) and run `marketer db migrate`, or set timescale: auto to run on plain Postgres.');
    // The refused run recorded nothing: the last recorded state is still auto's.
    const meta = await sql<{ value: string }>`SELECT value FROM marketer_meta WHERE key = 'schema'`.execute(t.db);
    expect(JSON.parse(meta.rows[0]!.value).result.timescale).toEqual({ status: 'absent' });
  }, 120_000);
});
