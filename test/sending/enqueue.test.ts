import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCampaign } from '../../src/campaigns/index.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { enqueueDeliveries, recordCampaign } from '../../src/sending/enqueue.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { sesEnv } from '../helpers/ses.js';

const N = 3000;
let t: TestDb;
let config: Config;

beforeAll(async () => {
  t = await createTestDb();
  const repo = makeCampaignRepo({ at: '2026-03-08 08:00', timezone: 'subscriber' });
  config = loadConfig({ cwd: repo.dir, env: { ...sesEnv('http://127.0.0.1:9'), DATABASE_URL: t.url } });
  await sql`
    INSERT INTO subscribers (email, timezone, tags)
    SELECT 'user' || i || '@example.com', (ARRAY['UTC', 'Asia/Kathmandu', 'America/St_Johns'])[1 + i % 3], '{newsletter}'
    FROM generate_series(1, ${N}) i`.execute(t.db);
  await sql`UPDATE subscribers SET status = 'unsubscribed' WHERE email = 'user1@example.com'`.execute(t.db);
  await sql`INSERT INTO suppressions (email_hash, reason) VALUES (marketer_address_hash('USER2@example.com'), 'manual')`.execute(t.db);
});
afterAll(async () => t?.close());

const ledger = async () => (await sql<{ rows: number; people: number; suppressed: number }>`
  SELECT count(*)::int AS rows, count(DISTINCT subscriber_id)::int AS people,
         count(*) FILTER (WHERE s.email IN ('user1@example.com', 'user2@example.com'))::int AS suppressed
  FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id`.execute(t.db)).rows[0]!;

describe('enqueue', () => {
  it('three enqueues of a new campaign at once queue each eligible subscriber exactly once; a later one adds only the newcomer', async () => {
    const campaign = await loadCampaign(`${config.root}/campaigns/c.yaml`, config);
    await recordCampaign(t.db, campaign);
    const now = new Date('2026-03-01T00:00:00Z');
    const added = await Promise.all([1, 2, 3].map(() => enqueueDeliveries(t.db, campaign, now)));
    expect(added.sort((a, b) => a - b)).toEqual([0, 0, N - 2]);
    expect(await ledger()).toEqual({ rows: N - 2, people: N - 2, suppressed: 0 });

    await sql`INSERT INTO subscribers (email, timezone, tags) VALUES ('late@example.com', 'Pacific/Chatham', '{newsletter}')`.execute(t.db);
    const again = await Promise.all([1, 2].map(() => enqueueDeliveries(t.db, campaign, now)));
    expect(again.sort((a, b) => a - b)).toEqual([0, 1]);
    expect(await ledger()).toEqual({ rows: N - 1, people: N - 1, suppressed: 0 });
    const late = await sql<{ due_at: Date; timezone: string }>`
      SELECT d.due_at, d.timezone FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE s.email = 'late@example.com'`.execute(t.db);
    // 08:00 at +13:45 (Chatham summer time).
    expect(late.rows).toEqual([{ due_at: new Date('2026-03-07T18:15:00Z'), timezone: 'Pacific/Chatham' }]);
  });
});
