import { sql, type Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import type { Database } from '../../src/db/types.js';
import { ingestRecords } from '../../src/events/ingest-events.js';
import { unwrapRecords } from '../../src/events/parse-ses-event.js';
import { campaignStats } from '../../src/reports/campaign-stats.js';
import { DECEMBER_FIGURES, DECEMBER_KATHMANDU_HOURS, seedDecemberCampaign } from '../fixtures/ses/december-campaign.js';
import { createTimescaleDb } from '../fixtures/ses/pglite-timescale.js';

/**
 * The TimescaleDB path: schema-timescale.sql applied by migrate(), email_events a compressed
 * hypertable with the hourly continuous aggregate, and the same answers as plain Postgres for
 * the hand-computed campaign. The engine is PGlite built with TimescaleDB (WASM, in-process).
 */
let db: Kysely<Database>;
let records: unknown[];

beforeAll(async () => {
  db = await createTimescaleDb();
  const m = await migrate(db);
  expect(m.engine).toBe('timescaledb');
  records = await seedDecemberCampaign(db);
}, 120_000);

afterAll(async () => {
  await db?.destroy();
});

const inputs = (rs: unknown[]) => rs.flatMap((r, i) => unwrapRecords(r, `item ${i + 1}`).records);

describe('on TimescaleDB', () => {
  it('email_events is a hypertable with a compression policy and the continuous aggregate', async () => {
    const ht = await sql<{ hypertable_name: string; compression_enabled: boolean }>`
      SELECT hypertable_name, compression_enabled FROM timescaledb_information.hypertables`.execute(db);
    expect(ht.rows).toEqual([{ hypertable_name: 'email_events', compression_enabled: true }]);
    const jobs = await sql<{ proc_name: string }>`SELECT proc_name FROM timescaledb_information.jobs WHERE hypertable_name = 'email_events'`.execute(db);
    expect(jobs.rows.map((j) => j.proc_name)).toContain('policy_compression');
    const seg = await sql<{ attname: string }>`
      SELECT attname FROM timescaledb_information.compression_settings WHERE hypertable_name = 'email_events' AND segmentby_column_index IS NOT NULL`.execute(db);
    expect(seg.rows.map((r) => r.attname)).toEqual(['campaign_id']);
    const caggs = await sql<{ view_name: string }>`SELECT view_name FROM timescaledb_information.continuous_aggregates`.execute(db);
    expect(caggs.rows.map((c) => c.view_name)).toEqual(['email_events_hourly']);
    // Migrating again is harmless, whether the schema is known to be current or applied anyway.
    expect(await migrate(db)).toMatchObject({ engine: 'timescaledb' });
    expect(await migrate(db, { force: true })).toMatchObject({ engine: 'timescaledb' });
  });

  it('ingests idempotently and reports the same figures as plain Postgres', async () => {
    // Part of the records first: the next batch is partly stored, and only its new events count.
    const part = await ingestRecords(db, inputs(records.filter((_, i) => i % 3 === 1)), { softBounceLimit: 3 });
    expect(part.ingested).toBeGreaterThan(0);
    const first = await ingestRecords(db, inputs(records), { softBounceLimit: 3 });
    expect(first).toMatchObject({ ingested: records.length - part.ingested, duplicates: part.ingested, unmatched: 0, malformed: 0 });
    const again = await ingestRecords(db, inputs(records), { softBounceLimit: 3 });
    expect(again).toMatchObject({ ingested: 0, duplicates: records.length });

    const s = await campaignStats(db, 7, { timezone: 'Asia/Kathmandu' });
    expect(s).toMatchObject(DECEMBER_FIGURES);
    expect(s.timeline).toHaveLength(12);
    expect(s.timeline.filter((h) => h.opens + h.clicks > 0)).toEqual(DECEMBER_KATHMANDU_HOURS);
  });

  it('the continuous aggregate agrees with the rollups', async () => {
    await sql`CALL refresh_continuous_aggregate('email_events_hourly', NULL, NULL)`.execute(db);
    const cagg = await sql<{ event_type: string; n: string }>`
      SELECT event_type, sum(events)::text AS n FROM email_events_hourly WHERE campaign_id = 7 GROUP BY 1 ORDER BY 1`.execute(db);
    const rollup = await sql<{ event_type: string; n: string }>`
      SELECT split_part(kind, ':', 1) AS event_type, sum(events)::text AS n FROM campaign_event_counts WHERE campaign_id = 7 GROUP BY 1 ORDER BY 1`.execute(db);
    expect(cagg.rows).toEqual(rollup.rows);
    expect(cagg.rows.find((r) => r.event_type === 'Open')?.n).toBe('7');
  });

  it('still answers once old chunks are compressed', async () => {
    const chunks = await sql<{ c: string }>`SELECT show_chunks('email_events')::text AS c`.execute(db);
    expect(chunks.rows.length).toBeGreaterThan(0);
    for (const { c } of chunks.rows) await sql`SELECT compress_chunk(${c}::regclass, if_not_compressed => true)`.execute(db);
    const s = await campaignStats(db, 7, { timezone: 'Asia/Kathmandu' });
    expect(s).toMatchObject(DECEMBER_FIGURES);
    // A replay into compressed chunks is still recognised as already stored.
    const replay = await ingestRecords(db, inputs(records.slice(0, 5)), { softBounceLimit: 3 });
    expect(replay).toMatchObject({ ingested: 0, duplicates: 5 });
  });
});
