import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestBatches, ingestRecords, parseRecords, type IngestResult } from '../../src/events/ingest-events.js';
import { unwrapRecords } from '../../src/events/parse-ses-event.js';
import { recountRollups } from '../../src/reports/recount-rollups.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { inject } from 'vitest';
import pg from 'pg';
import { notification, publish, snsEnvelope, type MailOptions } from '../fixtures/ses/records.js';
import { seedCampaign, seedDelivery, seedSubscriber } from '../fixtures/ses/seed.js';

/**
 * Several ingesters at once over the same deliveries, each record arriving in a different order
 * and some of them twice: what is stored, the first-event timestamps and every rollup must be
 * what one ingester reading the records in time order would have made.
 */
let t: TestDb;
const CAMPAIGN = 61;
const AT = '2026-12-01T08:00:00.000Z';
const ZONES = ['UTC', 'Europe/Berlin', 'Asia/Kathmandu'];

interface Person { delivery: string; subscriber: string; m: MailOptions; status: 'sent' | 'unknown' }
const people: Person[] = [];
const records: unknown[] = [];

// A small deterministic PRNG, so that a failure can be replayed.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const at = (seconds: number) => new Date(Date.parse(AT) + seconds * 1000).toISOString();

beforeAll(async () => {
  t = await createTestDb();
  await seedCampaign(t.db, CAMPAIGN);
  for (let i = 0; i < 48; i++) {
    const email = `many${i}@example.com`;
    const subscriber = await seedSubscriber(t.db, email, ZONES[i % 3]);
    const status = i % 12 === 5 ? 'unknown' : 'sent';
    const messageId = `0100018c-many-${i}`;
    const delivery = await seedDelivery(t.db, { campaignId: CAMPAIGN, subscriberId: subscriber, status, messageId: status === 'sent' ? messageId : null, timezone: ZONES[i % 3] });
    people.push({ delivery, subscriber, status, m: { messageId, to: email, at: AT, deliveryId: delivery, campaignId: CAMPAIGN } });
  }
  const rnd = prng(61);
  for (const [i, p] of people.entries()) {
    records.push(publish.send(p.m), publish.delivery(p.m, 2 + (i % 5)));
    // Opens and clicks at scattered times: the earliest must win whichever batch stores it.
    for (let k = 0; k < 4; k++) records.push(publish.open(p.m, 30 + Math.floor(rnd() * 5000)));
    for (let k = 0; k < 3; k++) records.push(publish.click(p.m, 60 + Math.floor(rnd() * 5000), `https://example.com/${k % 2 === 0 ? 'a' : 'b'}`));
    // The older format carries no tags: matched by message id, which an unknown send has not.
    if (i % 7 === 3 && p.status === 'sent') records.push(publish.bounce(p.m, 'Transient', 'MailboxFull', 10), notification.bounce(p.m, 'Transient', 'MailboxFull', 20));
    if (i % 11 === 4) records.push(snsEnvelope(publish.complaint(p.m, 900), `sns-many-complaint-${i}`));
    if (i % 13 === 6) records.push(publish.subscription(p.m, 1200, true));
  }
}, 60_000);

afterAll(async () => {
  await t?.close();
});

const inputs = (rs: unknown[]) => rs.flatMap((r, i) => unwrapRecords(r, `item ${i + 1}`).records);

/** `ingesters` loops at once, each storing its share of the records in small batches. */
async function ingestAtOnce(shares: unknown[][], batch: number): Promise<IngestResult[]> {
  return Promise.all(
    shares.map(async (share) => {
      const total: IngestResult[] = [];
      for (let i = 0; i < share.length; i += batch) total.push(await ingestRecords(t.db, inputs(share.slice(i, i + batch)), { softBounceLimit: 5 }));
      return total;
    }),
  ).then((all) => all.flat());
}

async function snapshot() {
  const q = async (query: ReturnType<typeof sql>) => (await query.execute(t.db)).rows;
  return {
    events: await q(sql`SELECT count(*)::int AS n FROM email_events WHERE campaign_id = ${CAMPAIGN}`),
    counts: await q(sql`SELECT kind, bucket, events::int FROM campaign_event_counts WHERE campaign_id = ${CAMPAIGN} ORDER BY 1, 2`),
    links: await q(sql`SELECT link, clicks::int, unique_clicks::int FROM campaign_link_counts WHERE campaign_id = ${CAMPAIGN} ORDER BY 1`),
    waves: await q(sql`SELECT timezone, delivered::int, opened::int, clicked::int, bounced::int, complained::int, unsubscribed::int FROM campaign_wave_firsts WHERE campaign_id = ${CAMPAIGN} ORDER BY 1`),
    deliveries: await q(sql`SELECT id::text, status, message_id, delivered_at, opened_at, clicked_at, bounced_at, complained_at, unsubscribed_at FROM deliveries WHERE campaign_id = ${CAMPAIGN} ORDER BY deliveries.id`),
    subscribers: await q(sql`SELECT id::text, status, soft_bounces FROM subscribers WHERE email LIKE 'many%' ORDER BY subscribers.id`),
  };
}

describe('concurrent ingesters', () => {
  it('store each record once, keep the earliest first-event times, and keep rollups equal to a recount', async () => {
    // Four ingesters, each with the records in its own shuffled order; a quarter of all records
    // reach two of them (SNS delivers at least once).
    const rnd = prng(7);
    const shuffled = records.map((r) => ({ r, k: rnd() })).sort((a, b) => a.k - b.k).map((x) => x.r);
    const shares: unknown[][] = [[], [], [], []];
    shuffled.forEach((r, i) => {
      shares[i % 4]!.push(r);
      if (i % 4 === 0) shares[(i + 1) % 4]!.push(r);
    });
    const results = await ingestAtOnce(shares, 9);
    const sum = (k: 'ingested' | 'duplicates' | 'malformed' | 'settled') => results.reduce((s, r) => s + r[k], 0);
    const distinct = records.length;
    expect(sum('malformed')).toBe(0);
    expect(sum('ingested')).toBe(distinct);
    expect(sum('ingested') + sum('duplicates')).toBe(shares.flat().length);
    expect(sum('settled')).toBe(people.filter((p) => p.status === 'unknown').length);

    const kept = await snapshot();
    expect(kept.events).toEqual([{ n: distinct }]);
    // First-event timestamps: the earliest of each person's events, whatever the arrival order.
    const earliest = (p: Person, type: string) => {
      const times = records
        .map((r) => (r as { Message?: string }).Message ? JSON.parse((r as { Message: string }).Message) as Record<string, unknown> : r as Record<string, unknown>)
        .filter((r) => (r.mail as { messageId: string }).messageId === p.m.messageId && (r.eventType ?? r.notificationType) === type)
        .map((r) => Date.parse((r[type.toLowerCase()] as { timestamp: string }).timestamp));
      return times.length === 0 ? null : new Date(Math.min(...times)).toISOString();
    };
    for (const p of people) {
      const row = kept.deliveries.find((d) => (d as { id: string }).id === p.delivery) as Record<string, Date | string | null>;
      const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : v);
      expect({ id: p.delivery, delivered: iso(row.delivered_at), opened: iso(row.opened_at), clicked: iso(row.clicked_at), bounced: iso(row.bounced_at), complained: iso(row.complained_at) })
        .toEqual({ id: p.delivery, delivered: earliest(p, 'Delivery'), opened: earliest(p, 'Open'), clicked: earliest(p, 'Click'), bounced: earliest(p, 'Bounce'), complained: earliest(p, 'Complaint') });
      expect(row.status).toBe('sent');
      expect(row.message_id).toBe(p.m.messageId);
    }
    // Each wave counts each delivery's first of each kind once.
    const byZone = (zone: string, col: string) => kept.deliveries.filter((d, i) => ZONES[i % 3] === zone && (d as Record<string, unknown>)[col] !== null).length;
    expect(kept.waves).toEqual(ZONES.slice().sort().map((zone) => ({
      timezone: zone, delivered: byZone(zone, 'delivered_at'), opened: byZone(zone, 'opened_at'), clicked: byZone(zone, 'clicked_at'),
      bounced: byZone(zone, 'bounced_at'), complained: byZone(zone, 'complained_at'), unsubscribed: byZone(zone, 'unsubscribed_at'),
    })));
    // A recount from the events and the ledger gives the same rollups.
    await recountRollups(t.db, CAMPAIGN);
    expect(await snapshot()).toEqual(kept);

    // Everything again, by two ingesters at once: nothing stored, nothing changed.
    const replay = await ingestAtOnce([shuffled, shuffled.slice().reverse()], 13);
    expect(replay.reduce((s, r) => s + r.ingested, 0)).toBe(0);
    expect(await snapshot()).toEqual(kept);
  }, 60_000);

  it('never deadlock on events that match no delivery, whatever order each ingester has them in', async () => {
    // A database of its own, so that its deadlock count is this test's alone.
    const own = await createTestDb();
    const stats = new pg.Client({ connectionString: inject('pgUrl') });
    await stats.connect();
    try {
      const name = new URL(own.url).pathname.slice(1);
      let stored = 0;
      for (let round = 0; round < 4; round++) {
        const strangers = Array.from({ length: 300 }, (_, i) => publish.open({ messageId: `stranger-${round}-${i}`, to: `stranger${i}@example.com`, at: AT }, i));
        // Both ingesters store the same events in one batch each, in opposite orders: inserted in
        // the order given, each would wait for the other's half of the keys.
        const results = await Promise.all([strangers, strangers.slice().reverse()].map((rs) => ingestRecords(own.db, inputs(rs), { softBounceLimit: 5 })));
        expect(results.map((r) => r.ingested + r.duplicates)).toEqual([300, 300]);
        stored += results[0]!.ingested + results[1]!.ingested;
      }
      expect(stored).toBe(1200);
      expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM email_events WHERE delivery_id IS NULL`.execute(own.db)).rows).toEqual([{ n: 1200 }]);
      // A backend adds its deadlocks to pg_stat_database by the time it has gone: end them all.
      await own.db.destroy();
      for (let i = 0; i < 100; i++) {
        const left = await stats.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1', [name]);
        if (left.rows[0].n === 0) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await stats.query('SELECT pg_stat_clear_snapshot()');
      const d = await stats.query('SELECT deadlocks::int AS n FROM pg_stat_database WHERE datname = $1', [name]);
      expect(d.rows).toEqual([{ n: 0 }]);
    } finally {
      await stats.end();
      await own.close();
    }
  }, 60_000);

  it('replay a file without locking ledger rows once its batches turn out to be stored already', async () => {
    const own = await createTestDb();
    try {
      await seedCampaign(own.db, 62);
      const mails: MailOptions[] = [];
      for (let i = 0; i < 3; i++) {
        const subscriber = await seedSubscriber(own.db, `replay${i}@example.com`);
        const messageId = `0100018c-replay-${i}`;
        const delivery = await seedDelivery(own.db, { campaignId: 62, subscriberId: subscriber, status: 'sent', messageId });
        mails.push({ messageId, to: `replay${i}@example.com`, at: AT, deliveryId: delivery, campaignId: 62 });
      }
      const batchOf = (m: MailOptions, more: unknown[] = []) => parseRecords(inputs([publish.delivery(m, 2), publish.open(m, 30), ...more]));
      const options = { softBounceLimit: 5 };
      const first = await ingestBatches(own.db, (async function* () { for (const m of mails) yield batchOf(m); })(), options, undefined, 1);
      expect(first).toMatchObject({ ingested: 6, duplicates: 0 });

      // Another transaction holds the ledger rows of the second and third mail. The first batch
      // of the replay is stored as any batch (its row is free); the next ones are looked up
      // first, and the last one's one new event locks only the first mail's row.
      const holder = await own.pool.connect();
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM deliveries WHERE id = ANY($1::bigint[]) FOR UPDATE', [[mails[1]!.deliveryId, mails[2]!.deliveryId]]);
      try {
        const batches = (async function* () {
          yield batchOf(mails[0]!);
          yield batchOf(mails[1]!);
          yield batchOf(mails[2]!, [publish.click(mails[0]!, 90, 'https://example.com/later')]);
        })();
        const replay = ingestBatches(own.db, batches, options, undefined, 1);
        const outcome = await Promise.race([replay, new Promise((resolve) => setTimeout(() => resolve('waited for a locked ledger row'), 20_000))]);
        expect(outcome).toMatchObject({ ingested: 1, duplicates: 6, malformed: 0 });
      } finally {
        await holder.query('ROLLBACK');
        holder.release();
      }
      const clicked = await sql<{ n: number }>`SELECT count(*)::int AS n FROM deliveries WHERE campaign_id = 62 AND clicked_at IS NOT NULL`.execute(own.db);
      expect(clicked.rows).toEqual([{ n: 1 }]);
    } finally {
      await own.close();
    }
  }, 60_000);
});
