import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/types.js';
import { ingestRecords } from '../../src/events/ingest-events.js';
import { unwrapRecords } from '../../src/events/parse-ses-event.js';
import { campaignReport } from '../../src/reports/campaign-report.js';
import { hasHourlyAggregate, hourlyEvents } from '../../src/reports/hourly-events.js';
import { seedDecemberCampaign } from '../fixtures/ses/december-campaign.js';
import { createTimescaleDb } from '../fixtures/ses/pglite-timescale.js';

/**
 * The report's hourly chart on TimescaleDB reads the continuous aggregate, and agrees with the
 * rollups even for an event that arrives after its hour was materialised (below the refresh
 * watermark, where neither the real-time part nor a 30-day policy would ever pick it up).
 */
let db: Kysely<Database>;
let records: Record<string, unknown>[];

const inputs = (rs: unknown[]) => rs.flatMap((r, i) => unwrapRecords(r, `item ${i + 1}`).records);
const rollup = async (kind: string) =>
  Number((await sql<{ n: string }>`SELECT coalesce(sum(events), 0)::text AS n FROM campaign_event_counts WHERE campaign_id = 7 AND kind = ${kind}`.execute(db)).rows[0]!.n);

beforeAll(async () => {
  db = await createTimescaleDb();
  expect((await migrate(db)).engine).toBe('timescaledb');
  records = (await seedDecemberCampaign(db)) as Record<string, unknown>[];
  await ingestRecords(db, inputs(records), { softBounceLimit: 3 });
}, 120_000);

afterAll(async () => {
  await db?.destroy();
});

describe('hourly opens and clicks on TimescaleDB', () => {
  it('come from email_events_hourly and match the rollups', async () => {
    expect(await hasHourlyAggregate(db)).toBe(true);
    const r = await campaignReport(db, 7, { timezone: 'UTC' });
    const sum = (k: 'opens' | 'clicks') => r.firstHours.series.reduce((s, h) => s + h[k], 0);
    expect([sum('opens'), sum('clicks')]).toEqual([await rollup('Open'), await rollup('Click')]);
    expect(r.firstHours.series.find((h) => h.hour === '2026-12-01T08:00:00Z')).toEqual({ hour: '2026-12-01T08:00:00Z', opens: 3, clicks: 2 });
    // The aggregate holds them now (the read refreshed the window).
    const cagg = await sql<{ n: string }>`SELECT sum(events)::text AS n FROM email_events_hourly WHERE campaign_id = 7 AND event_type = 'Open'`.execute(db);
    expect(cagg.rows[0]!.n).toBe('7');
  });

  it('include an event ingested after its hour was materialised', async () => {
    // Materialise everything, as the refresh policy would have done long ago.
    await sql`CALL refresh_continuous_aggregate('email_events_hourly', NULL, NULL)`.execute(db);
    const open = records.find((r) => r.eventType === 'Open')!;
    const late = { ...open, open: { ...(open.open as object), timestamp: '2026-12-01T10:30:00.000Z' } };
    expect(await ingestRecords(db, inputs([late]), { softBounceLimit: 3 })).toMatchObject({ ingested: 1 });
    const before = await sql<{ n: string }>`
      SELECT coalesce(sum(events), 0)::text AS n FROM email_events_hourly WHERE campaign_id = 7 AND bucket = '2026-12-01T10:00:00Z'`.execute(db);
    expect(before.rows[0]!.n).toBe('0'); // below the watermark: the view alone misses it
    const hours = await hourlyEvents(db, 7, { from: new Date('2026-12-01T00:00:00Z'), to: new Date('2026-12-04T00:00:00Z') });
    expect(hours.find((h) => h.hour.toISOString() === '2026-12-01T10:00:00.000Z')).toMatchObject({ opens: 1, clicks: 0 });
    expect(hours.reduce((s, h) => s + h.opens, 0)).toBe(await rollup('Open'));
    expect(await rollup('Open')).toBe(8);
  });
});
