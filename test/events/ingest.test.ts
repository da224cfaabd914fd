import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestRecords } from '../../src/events/ingest-events.js';
import { unwrapRecords } from '../../src/events/parse-ses-event.js';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { jsonl, notification, publish, snsEnvelope, type MailOptions } from '../fixtures/ses/records.js';
import { deliveryRow, seedCampaign, seedDelivery, seedSubscriber, subscriberRow, suppressionReason } from '../fixtures/ses/seed.js';

let t: TestDb;
const dir = mkdtempSync(path.join(tmpdir(), 'marketer-events-'));
const AT = '2026-12-01T08:00:00.000Z';

const ids: Record<string, { subscriber: string; delivery: string; m: MailOptions }> = {};

async function person(name: string, status: 'sent' | 'unknown', withMessageId = status === 'sent') {
  const email = `${name}@example.com`;
  const subscriber = await seedSubscriber(t.db, email);
  const messageId = `0100018c-${name}-000000`;
  const delivery = await seedDelivery(t.db, { campaignId: 42, subscriberId: subscriber, status, messageId: withMessageId ? messageId : null });
  ids[name] = { subscriber, delivery, m: { messageId, to: email, at: AT, deliveryId: delivery, campaignId: 42 } };
  return ids[name]!;
}

beforeAll(async () => {
  t = await createTestDb();
  await seedCampaign(t.db, 42);
  await seedCampaign(t.db, 43);
  for (const n of ['ann', 'bob', 'dan', 'eve', 'fay', 'hal']) await person(n, 'sent');
  await person('cat', 'unknown', false);
  await person('gus', 'unknown', false);
});

afterAll(async () => {
  await t?.close();
});

describe('events ingest', () => {
  it('stores every event type from both formats and envelopes, and applies what they mean', async () => {
    const { ann, bob, cat, dan, eve, fay, gus, hal } = ids as Required<typeof ids>;
    // bob has another campaign still queued: his hard bounce must skip it.
    const bobQueued = await seedDelivery(t.db, { campaignId: 43, subscriberId: bob!.subscriber, status: 'queued' });
    const annOpen = publish.open(ann!.m, 30);
    const lines = [
      jsonl([publish.send(ann!.m), publish.delivery(ann!.m), annOpen, publish.open(ann!.m, 90)]),
      jsonl([publish.click(ann!.m, 100, 'https://example.com/a'), publish.click(ann!.m, 200, 'https://example.com/a'), publish.click(ann!.m, 300, 'https://example.com/b')]),
      jsonl([publish.delivery(bob!.m), publish.bounce(bob!.m, 'Permanent', 'General')]),
      // cat's send timed out (status unknown, no message id): the Send event settles it.
      jsonl([publish.send({ ...cat!.m }), publish.delivery(cat!.m)]),
      // An SNS envelope (raw message delivery off) carrying dan's complaint.
      jsonl([snsEnvelope(publish.complaint(dan!.m), 'sns-dan-complaint')]),
      // The older notification format: no tags, matched by message id.
      jsonl([notification.bounce(eve!.m, 'Transient', 'MailboxFull'), publish.deliveryDelay(eve!.m)]),
      jsonl([publish.subscription(fay!.m, 120, true)]),
      jsonl([publish.reject(gus!.m)]),
      jsonl([publish.renderingFailure(hal!.m)]),
      // An array on one line, holding an envelope and a raw record.
      `${JSON.stringify([snsEnvelope(publish.open(hal!.m, 45), 'sns-hal-open'), publish.delivery(hal!.m)])}\n`,
      // Mail marketer did not send; an event type this version does not know; a repeat.
      jsonl([publish.open({ messageId: 'foreign-1', to: 'stranger@example.org', at: AT }, 10)]),
      jsonl([{ eventType: 'Teleport', mail: { messageId: 'foreign-2', timestamp: AT, destination: ['x@example.org'] }, teleport: { timestamp: AT } }]),
      jsonl([annOpen]),
      // Malformed: not JSON, and a Bounce without its type.
      '{"eventType": "Open", broken\n',
      jsonl([{ eventType: 'Bounce', mail: { messageId: 'm', timestamp: AT }, bounce: { timestamp: AT } }]),
    ].join('');
    const file = path.join(dir, 'events.jsonl');
    writeFileSync(file, lines);

    const env = { DATABASE_URL: t.url };
    const first = await runCli(['events', 'ingest', file, '--json'], { env });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const r = JSON.parse(first.stdout) as Record<string, unknown>;
    // 24 records, of which 2 malformed and 1 a repeat: 21 stored; 2 match no delivery.
    expect(r).toMatchObject({ ingested: 21, duplicates: 1, unmatched: 2, malformed: 2, unknown: 1, settled: 2, suppressed: 3 });
    const problems = r.problems as { position: string; reason: string }[];
    expect(problems.map((p) => p.position)).toEqual([`${file}:22`, `${file}:23`]);
    expect(problems[1]!.reason).toMatch(/bounceType/);

    // First-event timestamps, earliest wins.
    const a = await deliveryRow(t.db, ann!.delivery);
    expect(a.delivered_at?.toISOString()).toBe('2026-12-01T08:00:02.000Z');
    expect(a.opened_at?.toISOString()).toBe('2026-12-01T08:00:30.000Z');
    expect(a.clicked_at?.toISOString()).toBe('2026-12-01T08:01:40.000Z');
    // Hard bounce: subscriber bounced, address suppressed, other queued mail skipped.
    expect((await deliveryRow(t.db, bob!.delivery)).bounced_at?.toISOString()).toBe('2026-12-01T08:00:03.000Z');
    expect((await subscriberRow(t.db, bob!.subscriber)).status).toBe('bounced');
    expect(await suppressionReason(t.db, 'BOB@example.com')).toBe('bounced');
    expect(await deliveryRow(t.db, bobQueued)).toMatchObject({ status: 'skipped', error: 'suppressed' });
    // unknown → sent, with the message id SES gave.
    expect(await deliveryRow(t.db, cat!.delivery)).toMatchObject({ status: 'sent', message_id: cat!.m.messageId });
    // unknown + Reject → failed, with SES's reason (read from the payload, which the ingest
    // keeps for a Reject even where events_payload does not keep payloads).
    expect(await deliveryRow(t.db, gus!.delivery)).toMatchObject({ status: 'failed', error: 'SES rejected the message: Bad content' });
    // Complaint through the envelope.
    expect((await subscriberRow(t.db, dan!.subscriber)).status).toBe('complained');
    expect((await deliveryRow(t.db, dan!.delivery)).complained_at).not.toBeNull();
    // Old-format transient bounce, matched by message id: counted, not suppressed.
    expect(await subscriberRow(t.db, eve!.subscriber)).toMatchObject({ status: 'active', soft_bounces: 1 });
    expect((await deliveryRow(t.db, eve!.delivery)).bounced_at).not.toBeNull();
    // Subscription opt-out.
    expect((await subscriberRow(t.db, fay!.subscriber)).status).toBe('unsubscribed');
    expect((await deliveryRow(t.db, fay!.delivery)).unsubscribed_at?.toISOString()).toBe('2026-12-01T08:02:00.000Z');
    expect(await suppressionReason(t.db, fay!.m.to)).toBe('unsubscribed');

    const types = await sql<{ event_type: string; n: number }>`
      SELECT event_type, count(*)::int AS n FROM email_events GROUP BY 1 ORDER BY 1`.execute(t.db);
    expect(Object.fromEntries(types.rows.map((x) => [x.event_type, x.n]))).toEqual({
      Bounce: 2, Click: 3, Complaint: 1, Delivery: 4, DeliveryDelay: 1, Open: 4, Reject: 1, 'Rendering Failure': 1, Send: 2, Subscription: 1, Teleport: 1,
    });
    const stranger = await sql<{ delivery_id: string | null; campaign_id: number | null }>`
      SELECT delivery_id, campaign_id FROM email_events WHERE message_id = 'foreign-1'`.execute(t.db);
    expect(stranger.rows).toEqual([{ delivery_id: null, campaign_id: null }]);
    const links = await sql<{ link: string; clicks: string; unique_clicks: string }>`
      SELECT link, clicks, unique_clicks FROM campaign_link_counts WHERE campaign_id = 42 ORDER BY link`.execute(t.db);
    expect(links.rows).toEqual([
      { link: 'https://example.com/a', clicks: '2', unique_clicks: '1' },
      { link: 'https://example.com/b', clicks: '1', unique_clicks: '1' },
    ]);

    // The same file again changes nothing.
    const snapshot = async () => ({
      events: (await sql<{ n: number }>`SELECT count(*)::int AS n FROM email_events`.execute(t.db)).rows[0]!.n,
      rollup: (await sql<{ s: string }>`SELECT sum(events)::text AS s FROM campaign_event_counts`.execute(t.db)).rows[0]!.s,
      links: (await sql<{ s: string }>`SELECT sum(clicks)::text || '/' || sum(unique_clicks)::text AS s FROM campaign_link_counts`.execute(t.db)).rows[0]!.s,
      softBounces: (await subscriberRow(t.db, eve!.subscriber)).soft_bounces,
    });
    const before = await snapshot();
    const second = await runCli(['events', 'ingest', file, '--json'], { env });
    expect(JSON.parse(second.stdout)).toMatchObject({ ingested: 0, duplicates: 22, unmatched: 0, malformed: 2, settled: 0, suppressed: 0 });
    expect(await snapshot()).toEqual(before);
  });

  it('reads one pretty-printed JSON document from stdin', async () => {
    const { hal } = ids as Required<typeof ids>;
    const doc = JSON.stringify([publish.click(hal!.m, 500, 'https://example.com/c')], null, 2);
    const r = await runCli(['events', 'ingest', '-'], { env: { DATABASE_URL: t.url }, input: doc });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Ingested 1 event \(0 duplicates, 0 unmatched, 0 malformed, 0 of unknown type\)/);
  });

  it('keeps each event\'s details only with events_payload: full', async () => {
    const { hal } = ids as Required<typeof ids>;
    const m = { ...hal!.m, messageId: '0100018c-hal-payload' };
    const payloadOf = async (messageId: string) =>
      (await sql<{ payload: unknown }>`SELECT payload FROM email_events WHERE message_id = ${messageId} AND event_type = 'Delivery'`.execute(t.db)).rows.map((r) => r.payload);
    const file = path.join(dir, 'payload.jsonl');
    writeFileSync(file, jsonl([publish.delivery(m, 5)]));
    expect((await runCli(['events', 'ingest', file], { env: { DATABASE_URL: t.url } })).code).toBe(0);
    expect(await payloadOf(m.messageId)).toEqual([null]);

    const full = { ...m, messageId: '0100018c-hal-payload-full' };
    writeFileSync(file, jsonl([publish.delivery(full, 5)]));
    expect((await runCli(['events', 'ingest', file], { env: { DATABASE_URL: t.url, MARKETER_EVENTS_PAYLOAD: 'full' } })).code).toBe(0);
    expect(await payloadOf(full.messageId)).toEqual([expect.objectContaining({ smtpResponse: expect.any(String), recipients: [full.to] })]);
  });

  it('a missing file is bad input (exit 2)', async () => {
    const r = await runCli(['events', 'ingest', path.join(dir, 'nope.jsonl')], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Cannot read .*nope\.jsonl: no such file/);
  });

  it('suppresses after soft_bounce_limit transient bounces in a row; a delivery resets the count', async () => {
    const email = 'soft@example.com';
    const subscriber = await seedSubscriber(t.db, email);
    const m: MailOptions[] = [];
    for (const c of [50, 51, 52, 53]) {
      await seedCampaign(t.db, c);
      const delivery = await seedDelivery(t.db, { campaignId: c, subscriberId: subscriber, status: 'sent', messageId: `soft-${c}` });
      m.push({ messageId: `soft-${c}`, to: email, at: AT, deliveryId: delivery, campaignId: c });
    }
    const queued = await seedDelivery(t.db, { campaignId: 43, subscriberId: subscriber, status: 'queued' });
    const ingest = (records: unknown[]) =>
      ingestRecords(t.db, records.flatMap((rec, i) => unwrapRecords(rec, `item ${i}`).records), { softBounceLimit: 3 });

    await ingest([publish.bounce(m[0]!, 'Transient', 'MailboxFull', 10), publish.bounce(m[1]!, 'Undetermined', 'Undetermined', 20)]);
    expect(await subscriberRow(t.db, subscriber)).toMatchObject({ soft_bounces: 2, status: 'active' });
    await ingest([publish.delivery(m[2]!, 30)]);
    expect(await subscriberRow(t.db, subscriber)).toMatchObject({ soft_bounces: 0, status: 'active' });
    // Two more: still under the limit of 3 in a row.
    await ingest([publish.bounce(m[2]!, 'Transient', 'General', 40), publish.bounce(m[3]!, 'Transient', 'General', 50)]);
    expect(await subscriberRow(t.db, subscriber)).toMatchObject({ soft_bounces: 2, status: 'active' });
    expect((await deliveryRow(t.db, queued)).status).toBe('queued');
    const third = await ingest([publish.bounce(m[3]!, 'Transient', 'General', 60)]);
    expect(third.suppressed).toBe(1);
    expect(await subscriberRow(t.db, subscriber)).toMatchObject({ soft_bounces: 3, status: 'bounced' });
    expect(await suppressionReason(t.db, email)).toBe('bounced');
    expect(await deliveryRow(t.db, queued)).toMatchObject({ status: 'skipped', error: 'suppressed' });
  });

  it('does not trust a delivery tag that disagrees with the ledger', async () => {
    const { ann } = ids as Required<typeof ids>;
    // Another installation's mail carrying our delivery id: different message id and campaign.
    const r = await ingestRecords(t.db, unwrapRecords(publish.complaint({ ...ann!.m, messageId: 'elsewhere-1', campaignId: 7 }), 'x').records, { softBounceLimit: 3 });
    expect(r).toMatchObject({ ingested: 1, unmatched: 1 });
    expect((await deliveryRow(t.db, ann!.delivery)).complained_at).toBeNull();
  });
});
