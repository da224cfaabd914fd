import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadCampaign, type LoadedCampaign } from '../../src/campaigns/index.js';
import { loadConfig } from '../../src/config/config.js';
import { migrate } from '../../src/db/migrate.js';
import { enqueueDeliveries, recordCampaign } from '../../src/sending/enqueue.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { sesEnv } from '../helpers/ses.js';

// The ledger keeps no foreign key to subscribers (checking it per row was the largest part of
// enqueueing a million rows); these tests try every way of leaving a delivery without its
// subscriber and expect each to be refused.
let t: TestDb;
let campaign: LoadedCampaign;
const N = 200;

beforeAll(async () => {
  t = await createTestDb();
  const repo = makeCampaignRepo({ at: '2026-03-08 08:00', timezone: 'subscriber' });
  const config = loadConfig({ cwd: repo.dir, env: { ...sesEnv('http://127.0.0.1:9'), DATABASE_URL: t.url } });
  campaign = await loadCampaign(`${config.root}/campaigns/c.yaml`, config);
});
afterAll(async () => t?.close());

beforeEach(async () => {
  await sql`TRUNCATE subscribers, campaigns, deliveries RESTART IDENTITY`.execute(t.db);
  await sql`
    INSERT INTO subscribers (email, timezone, tags)
    SELECT 'user' || i || '@example.com', 'UTC', '{newsletter}' FROM generate_series(1, ${N}) i`.execute(t.db);
  await recordCampaign(t.db, campaign);
  expect(await enqueueDeliveries(t.db, campaign, new Date('2026-03-01T00:00:00Z'))).toBe(N);
});

const orphans = async () => (await sql<{ n: number }>`
  SELECT count(*)::int AS n FROM deliveries d WHERE NOT EXISTS (SELECT 1 FROM subscribers s WHERE s.id = d.subscriber_id)`.execute(t.db)).rows[0]!.n;
const ledgerRows = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM deliveries`.execute(t.db)).rows[0]!.n;

/** The Postgres error a statement fails with (or undefined when it succeeds). */
async function failure(statement: Promise<unknown>): Promise<{ code?: string; message: string; hint?: string } | undefined> {
  try {
    await statement;
    return undefined;
  } catch (err) {
    return err as { code?: string; message: string; hint?: string };
  }
}

describe('the ledger keeps its subscribers without a foreign key', () => {
  it('refuses to delete a subscriber, with or without deliveries, and points to subscribers forget', async () => {
    const err = await failure(sql`DELETE FROM subscribers WHERE email = 'user1@example.com'`.execute(t.db));
    expect(err?.code).toBe('23001');
    expect(err?.message).toContain('subscribers are never deleted');
    expect(err?.hint).toContain('marketer subscribers forget');
    await sql`INSERT INTO subscribers (email) VALUES ('never-mailed@example.com')`.execute(t.db);
    expect((await failure(sql`DELETE FROM subscribers WHERE email = 'never-mailed@example.com'`.execute(t.db)))?.code).toBe('23001');
    expect((await failure(sql`DELETE FROM subscribers`.execute(t.db)))?.code).toBe('23001');
    expect(await ledgerRows()).toBe(N);
    expect(await orphans()).toBe(0);
  });

  it('a delete racing an uncommitted enqueue is refused too, and the enqueue commits rows that all have their subscriber', async () => {
    await sql`TRUNCATE campaigns, deliveries`.execute(t.db);
    await recordCampaign(t.db, campaign);
    const enqueuer = new pg.Client({ connectionString: t.url });
    const deleter = new pg.Client({ connectionString: t.url });
    await Promise.all([enqueuer.connect(), deleter.connect()]);
    try {
      // The enqueue's own statement, left open: its rows are not visible to the deleter, which
      // a "refuse only when the subscriber has deliveries" check would have let through.
      await enqueuer.query('BEGIN');
      await enqueuer.query(`INSERT INTO deliveries (campaign_id, subscriber_id, due_at, timezone)
        SELECT ${campaign.id}, s.id, now(), s.timezone FROM subscribers s WHERE s.status = 'active'`);
      const err = await failure(deleter.query(`DELETE FROM subscribers WHERE email IN ('user7@example.com', 'user8@example.com')`));
      expect(err?.code).toBe('23001');
      await enqueuer.query('COMMIT');
    } finally {
      await Promise.all([enqueuer.end(), deleter.end()]);
    }
    expect(await ledgerRows()).toBe(N);
    expect(await orphans()).toBe(0);
  });

  it("refuses to change a subscriber's id or a delivery's subscriber", async () => {
    expect((await failure(sql`UPDATE subscribers SET id = id + 1000000 WHERE email = 'user3@example.com'`.execute(t.db)))?.code).toBe('23001');
    expect((await failure(sql`UPDATE deliveries SET subscriber_id = 987654 WHERE id = (SELECT min(id) FROM deliveries)`.execute(t.db)))?.code).toBe('23001');
    // Updates that leave the ids alone (what import, forget and dispatch do) are untouched.
    await sql`UPDATE subscribers SET id = id, first_name = 'Ada' WHERE email = 'user3@example.com'`.execute(t.db);
    await sql`UPDATE deliveries SET subscriber_id = subscriber_id, status = 'sent' WHERE id = (SELECT min(id) FROM deliveries)`.execute(t.db);
    expect(await orphans()).toBe(0);
  });

  it('refuses to truncate subscribers while the ledger has rows, unless deliveries goes in the same statement', async () => {
    const err = await failure(sql`TRUNCATE subscribers RESTART IDENTITY CASCADE`.execute(t.db));
    expect(err?.code).toBe('23001');
    expect(err?.hint).toContain('TRUNCATE subscribers, deliveries');
    expect(await ledgerRows()).toBe(N);
    expect(await orphans()).toBe(0);
    await sql`TRUNCATE subscribers, deliveries`.execute(t.db);
    expect(await ledgerRows()).toBe(0);
    // With an empty ledger subscribers alone may go.
    await sql`INSERT INTO subscribers (email) VALUES ('x@example.com')`.execute(t.db);
    await sql`TRUNCATE subscribers`.execute(t.db);
  });

  it('a database with the foreign key and the former ledger indexes migrates, and migrating again changes nothing', async () => {
    await sql`DROP INDEX deliveries_campaign_status_due_idx`.execute(t.db);
    await sql`ALTER TABLE deliveries ADD CONSTRAINT deliveries_subscriber_id_fkey FOREIGN KEY (subscriber_id) REFERENCES subscribers (id) ON DELETE CASCADE`.execute(t.db);
    await sql`CREATE INDEX deliveries_queued_campaign_due_idx ON deliveries (campaign_id, due_at) WHERE status = 'queued'`.execute(t.db);
    await sql`CREATE INDEX deliveries_campaign_wave_idx ON deliveries (campaign_id, timezone, status, due_at)`.execute(t.db);
    const state = async () => ({
      foreignKeys: (await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_constraint WHERE conrelid = 'deliveries'::regclass AND contype = 'f'`.execute(t.db)).rows[0]!.n,
      indexes: (await sql<{ indexname: string }>`SELECT indexname FROM pg_indexes WHERE tablename = 'deliveries' ORDER BY indexname`.execute(t.db)).rows.map((r) => r.indexname),
    });
    await migrate(t.db, { force: true });
    const once = await state();
    expect(once.foreignKeys).toBe(0);
    expect(once.indexes).toContain('deliveries_campaign_status_due_idx');
    expect(once.indexes).not.toContain('deliveries_campaign_wave_idx');
    expect(once.indexes).not.toContain('deliveries_queued_campaign_due_idx');
    await migrate(t.db, { force: true });
    expect(await state()).toEqual(once);
    expect(await ledgerRows()).toBe(N);
    expect((await failure(sql`DELETE FROM subscribers WHERE email = 'user1@example.com'`.execute(t.db)))?.code).toBe('23001');
  });
});
