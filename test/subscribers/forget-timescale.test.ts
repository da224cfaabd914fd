import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/types.js';
import { ingestRecords } from '../../src/events/ingest-events.js';
import { unwrapRecords } from '../../src/events/parse-ses-event.js';
import { campaignStats } from '../../src/reports/campaign-stats.js';
import { exportSubscriber } from '../../src/subscribers/export-subscriber.js';
import { forgetAddresses } from '../../src/subscribers/forget-subscriber.js';
import { DECEMBER_FIGURES, seedDecemberCampaign } from '../fixtures/ses/december-campaign.js';
import { createTimescaleDb } from '../fixtures/ses/pglite-timescale.js';
import { publish } from '../fixtures/ses/records.js';
import { suppressionReason } from '../fixtures/ses/seed.js';
import { scanAllTables } from '../helpers/scan-database.js';

/**
 * Erasure on TimescaleDB: the person's events sit in compressed chunks of the hypertable (and
 * in the continuous aggregate's source) when they are forgotten. PGlite built with TimescaleDB.
 */
let db: Kysely<Database>;
const NEEDLES = ['s1@example.com', 'Wilhelmina', 'Brightwater', '203.0.113.99'];

beforeAll(async () => {
  db = await createTimescaleDb();
  expect((await migrate(db)).engine).toBe('timescaledb');
  const records = await seedDecemberCampaign(db);
  await sql`UPDATE subscribers SET first_name = 'Wilhelmina', last_name = 'Brightwater', consent_ip = '203.0.113.99',
            attributes = '{"company": "Brightwater Mills"}', tags = '{newsletter}' WHERE email = 's1@example.com'`.execute(db);
  records.push(publish.bounce({ messageId: 'another-tools-mail', to: 'S1@Example.com', at: '2026-12-01T07:00:00Z' }, 'Transient', 'MailboxFull'));
  const inputs = records.flatMap((r, i) => unwrapRecords(r, `item ${i + 1}`).records);
  const r = await ingestRecords(db, inputs, { softBounceLimit: 3, keepPayload: true });
  expect(r).toMatchObject({ ingested: records.length, malformed: 0 });
}, 300_000);

afterAll(async () => {
  await db?.destroy();
});

it('forgets a person whose events are in compressed chunks; figures and others stay', async () => {
  const before = await scanAllTables(db, NEEDLES);
  expect(before.some((h) => h.where.startsWith('_timescaledb_internal'))).toBe(true);
  const chunks = await sql<{ c: string }>`SELECT compress_chunk(c, true)::text AS c FROM show_chunks('email_events') c`.execute(db);
  expect(chunks.rows.length).toBeGreaterThan(0);
  const compressed = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM timescaledb_information.chunks WHERE hypertable_name = 'email_events' AND is_compressed`.execute(db);
  expect(compressed.rows[0]!.n).toBe(chunks.rows.length);
  const statsBefore = await campaignStats(db, 7, { timezone: 'Asia/Kathmandu' });
  const others = () => sql`SELECT * FROM subscribers WHERE email <> 's1@example.com' AND status <> 'forgotten' ORDER BY id`.execute(db);
  const othersBefore = (await others()).rows;

  const result = await forgetAddresses(db, ['S1@EXAMPLE.COM']);
  // s1's delivery, three opens and three clicks, and the bounce of mail marketer did not send.
  expect(result).toEqual({ forgotten: 1, not_found: 0, rows: { subscribers: 1, deliveries: 1, events: 8, suppressions: 1 } });

  expect(await campaignStats(db, 7, { timezone: 'Asia/Kathmandu' })).toEqual(statsBefore);
  expect(statsBefore).toMatchObject(DECEMBER_FIGURES);
  await sql`CALL refresh_continuous_aggregate('email_events_hourly', NULL, NULL)`.execute(db);
  const opens = await sql<{ n: string }>`SELECT sum(events)::text AS n FROM email_events_hourly WHERE campaign_id = 7 AND event_type = 'Open'`.execute(db);
  expect(opens.rows[0]!.n).toBe('7');
  expect((await others()).rows).toEqual(othersBefore);
  expect(await suppressionReason(db, 's1@example.com')).toBe('forgotten');
  expect(await exportSubscriber(db, 's1@example.com')).toMatchObject({ subscriber: null, deliveries: [], events: [] });
  expect(await scanAllTables(db, NEEDLES)).toEqual([]);
});
