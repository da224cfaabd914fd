import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/types.js';
import { ingestRecords } from '../../src/events/ingest-events.js';
import { unwrapRecords } from '../../src/events/parse-ses-event.js';
import { pruneEvents } from '../../src/events/prune-events.js';
import { campaignStats } from '../../src/reports/campaign-stats.js';
import { DECEMBER_FIGURES, seedDecemberCampaign } from '../fixtures/ses/december-campaign.js';
import { createTimescaleDb } from '../fixtures/ses/pglite-timescale.js';
import { jsonl, publish, type MailOptions } from '../fixtures/ses/records.js';
import { seedCampaign, seedDelivery, seedSubscriber } from '../fixtures/ses/seed.js';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

const DAY = 86_400_000;
const ago = (days: number) => new Date(Date.now() - days * DAY).toISOString();

describe('events prune on plain Postgres', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('deletes events older than the period in batches and keeps every campaign figure', async () => {
    await seedCampaign(t.db, 7);
    await seedCampaign(t.db, 8);
    const records: unknown[] = [];
    for (const [campaignId, days, n] of [[7, 800, 6], [8, 30, 4]] as const) {
      for (let i = 0; i < n; i++) {
        const sub = await seedSubscriber(t.db, `p${campaignId}-${i}@example.com`);
        const m: MailOptions = { messageId: `m-${campaignId}-${i}`, to: `p${campaignId}-${i}@example.com`, at: ago(days), campaignId };
        m.deliveryId = await seedDelivery(t.db, { campaignId, subscriberId: sub, status: 'sent', messageId: m.messageId, dueAt: m.at });
        records.push(publish.delivery(m), publish.open(m, 60 + i), publish.click(m, 90, 'https://example.com/a'));
      }
    }
    // Mail marketer did not send, long ago.
    records.push(publish.bounce({ messageId: 'other', to: 'x@example.com', at: ago(900) }, 'Permanent', 'General'));
    const dir = mkdtempSync(path.join(tmpdir(), 'marketer-prune-'));
    writeFileSync(path.join(dir, 'e.jsonl'), jsonl(records));
    const env = { DATABASE_URL: t.url };
    expect((await runCli(['events', 'ingest', path.join(dir, 'e.jsonl'), '--json'], { cwd: dir, env })).code).toBe(0);
    // By default an event keeps its columns only: no recipients, no bounce diagnostics.
    const payloads = await sql<{ n: number }>`SELECT count(*)::int AS n FROM email_events WHERE payload IS NOT NULL`.execute(t.db);
    expect(payloads.rows[0]!.n).toBe(0);
    const before = await Promise.all([7, 8].map((id) => runCli(['stats', String(id), '--json'], { cwd: dir, env })));

    const bad = await runCli(['events', 'prune', '--older-than', '5 fortnights'], { cwd: dir, env });
    expect(bad.code).toBe(2);
    const none = await runCli(['events', 'prune'], { cwd: dir, env });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('events_retention');

    // Batches of 5 so that several are needed for campaign 7's 18 events.
    const direct = await pruneEvents(t.db, { olderThanDays: 400, batchSize: 5 });
    expect(direct).toMatchObject({ engine: 'postgres', deleted: 19 });
    const left = await sql<{ campaign_id: number | null; n: number }>`
      SELECT campaign_id, count(*)::int AS n FROM email_events GROUP BY 1 ORDER BY 1`.execute(t.db);
    expect(left.rows).toEqual([{ campaign_id: 8, n: 12 }]);

    const again = await runCli(['events', 'prune', '--json'], { cwd: dir, env: { ...env, MARKETER_EVENTS_RETENTION: '400d' } });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ engine: 'postgres', deleted: 0 });
    const month = await runCli(['events', 'prune', '--older-than', '4w', '--json'], { cwd: dir, env });
    expect(JSON.parse(month.stdout)).toMatchObject({ deleted: 12 });

    const after = await Promise.all([7, 8].map((id) => runCli(['stats', String(id), '--json'], { cwd: dir, env })));
    expect(after.map((r) => JSON.parse(r.stdout))).toEqual(before.map((r) => JSON.parse(r.stdout)));
    expect(JSON.parse(after[0]!.stdout)).toMatchObject({ delivered: 6, opens: { unique: 6 } });
  });
});

describe('events prune on TimescaleDB', () => {
  let db: Kysely<Database>;
  beforeAll(async () => {
    db = await createTimescaleDb();
    await migrate(db);
    const records = await seedDecemberCampaign(db);
    await ingestRecords(db, records.flatMap((r, i) => unwrapRecords(r, `item ${i + 1}`).records), { softBounceLimit: 3 });
  }, 300_000);
  afterAll(async () => {
    await db?.destroy();
  });

  it('drops whole chunks, compressed or not, keeps a retention policy in step, and the figures stay', async () => {
    await sql`SELECT compress_chunk(c, true) FROM show_chunks('email_events') c LIMIT 1`.execute(db);
    const kathmandu = { timezone: 'Asia/Kathmandu' };
    const before = await campaignStats(db, 7, kathmandu);
    // A year and more after the campaign: everything is older than 400 days.
    const none = await pruneEvents(db, { olderThanDays: 400, now: new Date('2027-06-01T00:00:00Z') });
    expect(none).toMatchObject({ engine: 'timescaledb', droppedChunks: 0 });
    const policy = async () => (await sql<{ d: string }>`
      SELECT config->>'drop_after' AS d FROM timescaledb_information.jobs WHERE hypertable_name = 'email_events' AND proc_name = 'policy_retention'`.execute(db)).rows;
    expect(await policy()).toEqual([{ d: '400 days' }]);
    const r = await pruneEvents(db, { olderThanDays: 400, now: new Date('2028-01-15T00:00:00Z') });
    expect(r.droppedChunks).toBeGreaterThan(0);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM email_events`.execute(db)).rows[0]!.n).toBe(0);
    expect(await campaignStats(db, 7, kathmandu)).toEqual(before);
    expect(before).toMatchObject(DECEMBER_FIGURES);
    await pruneEvents(db, { olderThanDays: 30 });
    expect(await policy()).toEqual([{ d: '30 days' }]);
  });
});
