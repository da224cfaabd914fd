import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { recountRollups } from '../../src/reports/recount-rollups.js';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { jsonl, publish, type MailOptions } from '../fixtures/ses/records.js';
import { seedCampaign, seedDelivery, seedSubscriber } from '../fixtures/ses/seed.js';

/**
 * A small campaign whose every figure is worked out by hand below. Three waves:
 *   Asia/Kathmandu 02:15Z  s9 sent, s10 unknown
 *   Europe/Berlin  07:00Z  s1–s4 sent, s5 skipped (late), s11 skipped (suppressed)
 *   America/New_York 13:00Z s6, s7 sent, s8 failed
 */
let t: TestDb;
const dir = mkdtempSync(path.join(tmpdir(), 'marketer-stats-'));
const m: Record<string, MailOptions> = {};

beforeAll(async () => {
  t = await createTestDb();
  await seedCampaign(t.db, 7, 'December news');
  await seedCampaign(t.db, 8, 'Empty one');
  const waves: [string, string, [string, 'sent' | 'unknown' | 'failed' | 'skipped', string?][]][] = [
    ['Asia/Kathmandu', '2026-12-01T02:15:00Z', [['s9', 'sent'], ['s10', 'unknown']]],
    ['Europe/Berlin', '2026-12-01T07:00:00Z', [['s1', 'sent'], ['s2', 'sent'], ['s3', 'sent'], ['s4', 'sent'], ['s5', 'skipped', 'late'], ['s11', 'skipped', 'suppressed']]],
    ['America/New_York', '2026-12-01T13:00:00Z', [['s6', 'sent'], ['s7', 'sent'], ['s8', 'failed']]],
  ];
  for (const [zone, due, people] of waves) {
    for (const [name, status, error] of people) {
      const subscriber = await seedSubscriber(t.db, `${name}@example.com`, zone);
      const messageId = `msg-${name}`;
      const delivery = await seedDelivery(t.db, { campaignId: 7, subscriberId: subscriber, status, messageId: status === 'sent' ? messageId : null, timezone: zone, dueAt: due });
      if (error) await t.db.updateTable('deliveries').set({ error }).where('id', '=', delivery).execute();
      m[name] = { messageId, to: `${name}@example.com`, at: due, deliveryId: delivery, campaignId: 7 };
    }
  }
  const A = 'https://example.com/a?utm_source=marketer';
  const B = 'https://example.com/b';
  const records = [
    ...['s1', 's2', 's3', 's6', 's7', 's9'].map((s) => publish.delivery(m[s]!)),
    publish.bounce(m.s4!, 'Permanent', 'General'),
    publish.bounce(m.s6!, 'Transient', 'MailboxFull'),
    publish.bounce(m.s9!, 'Undetermined', 'Undetermined'),
    publish.open(m.s1!, 4200), publish.open(m.s1!, 4800), publish.open(m.s1!, 7500), // 08:10Z 08:20Z 09:05Z
    publish.open(m.s2!, 5400), // 08:30Z
    publish.open(m.s6!, 1800), publish.open(m.s6!, 4200), // 13:30Z 14:10Z
    publish.open(m.s9!, 1500), // 02:40Z
    publish.click(m.s1!, 6000, A), publish.click(m.s1!, 6600, A), publish.click(m.s1!, 7800, B), // 08:40Z 08:50Z 09:10Z
    publish.click(m.s6!, 2100, A), // 13:35Z
    publish.complaint(m.s2!),
    publish.subscription(m.s3!, 120, true),
  ];
  const file = path.join(dir, 'c7.jsonl');
  writeFileSync(file, jsonl(records));
  const r = await runCli(['events', 'ingest', file, '--json'], { env: { DATABASE_URL: t.url } });
  expect(JSON.parse(r.stdout)).toMatchObject({ ingested: records.length, unmatched: 0, malformed: 0 });
});

afterAll(async () => {
  await t?.close();
});

describe('marketer stats', () => {
  it('gives the hand-computed figures as one JSON document', async () => {
    const r = await runCli(['stats', '7', '--json', '--tz', 'Asia/Kathmandu'], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({
      campaign: 7,
      recipients: 11,
      sent: 7,
      delivered: 6,
      bounced: { hard: 1, soft: 2 },
      complained: 1,
      unsubscribed: 1,
      opens: { unique: 4, total: 7 },
      clicks: { unique: 2, total: 4 },
      failed: 1,
      unknown: 1,
      skipped: 2,
      skippedBreakdown: { late: 1, suppressed: 1 },
      links: [
        { url: 'https://example.com/a?utm_source=marketer', unique: 2, total: 3 },
        { url: 'https://example.com/b', unique: 1, total: 1 },
      ],
    });
    const rates = s.rates as Record<string, number>;
    expect(rates.delivery).toBeCloseTo(6 / 7, 10);
    expect(rates.open).toBeCloseTo(4 / 6, 10);
    expect(rates.click).toBeCloseTo(2 / 6, 10);
    expect(rates.clickToOpen).toBeCloseTo(0.5, 10);
    expect(rates.bounce).toBeCloseTo(1 / 7, 10);
    expect(rates.complaint).toBeCloseTo(1 / 6, 10);
    expect((s.alerts as { metric: string; level: string }[]).map((a) => `${a.metric}:${a.level}`)).toEqual(['bounce:critical', 'complaint:critical']);
    expect(s.waves).toEqual([
      { timezone: 'Asia/Kathmandu', dueAt: '2026-12-01T02:15:00.000Z', recipients: 2, sent: 1, delivered: 1, opened: 1, clicked: 0, bounced: 1, complained: 0, skipped: 0, failed: 0, unknown: 1, queued: 0 },
      { timezone: 'Europe/Berlin', dueAt: '2026-12-01T07:00:00.000Z', recipients: 6, sent: 4, delivered: 3, opened: 2, clicked: 1, bounced: 1, complained: 1, skipped: 2, failed: 0, unknown: 0, queued: 0 },
      { timezone: 'America/New_York', dueAt: '2026-12-01T13:00:00.000Z', recipients: 3, sent: 2, delivered: 2, opened: 1, clicked: 1, bounced: 1, complained: 0, skipped: 0, failed: 1, unknown: 0, queued: 0 },
    ]);
    // Hours in the viewer's zone (+05:45), gaps filled: 08:00 local (s9) to 19:00 local (s6).
    const timeline = s.timeline as { hour: string; opens: number; clicks: number }[];
    expect(timeline).toHaveLength(12);
    expect(timeline.filter((h) => h.opens + h.clicks > 0)).toEqual([
      { hour: '2026-12-01T08:00:00+05:45', opens: 1, clicks: 0 },
      { hour: '2026-12-01T13:00:00+05:45', opens: 1, clicks: 0 },
      { hour: '2026-12-01T14:00:00+05:45', opens: 3, clicks: 3 },
      { hour: '2026-12-01T19:00:00+05:45', opens: 2, clicks: 1 },
    ]);
  });

  it('counts only later events with --since, and reads the id from a campaign file', async () => {
    const file = path.join(dir, 'december.yaml');
    writeFileSync(file, 'id: 7\nname: December news\nsubject: Hi\n');
    const r = await runCli(['stats', file, '--json', '--tz', 'UTC', '--since', '2026-12-01T13:00'], { env: { DATABASE_URL: t.url } });
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({ recipients: 11, sent: 7, delivered: 2, opens: { unique: 1, total: 2 }, clicks: { unique: 1, total: 1 }, bounced: { hard: 0, soft: 1 } });
  });

  it('prints a report with the alerts and the timeline, and lists campaigns', async () => {
    const r = await runCli(['stats', '7', '--tz', 'UTC'], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Campaign 7 · December news/);
    expect(r.stdout).toMatch(/critical bounce rate 14\.29% \(threshold 10\.0%\)/);
    expect(r.stdout).toMatch(/critical complaint rate 16\.67% \(threshold 0\.3%\)/);
    expect(r.stdout).toMatch(/^ +08:00 █{40} +3\n +[█▏▎▍▌▋▊▉]+ +2\n/m);
    const list = await runCli(['stats', '--json'], { env: { DATABASE_URL: t.url } });
    const doc = JSON.parse(list.stdout) as { campaigns: { campaign: number; sent: number; opens: number }[] };
    expect(doc.campaigns.map((c) => [c.campaign, c.sent, c.opens])).toEqual([[8, 0, 0], [7, 7, 4]]);
  });

  it('an unknown campaign or zone is bad input', async () => {
    const missing = await runCli(['stats', '99'], { env: { DATABASE_URL: t.url } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/No campaign 99/);
    const zone = await runCli(['stats', '7', '--tz', 'Mars/Olympus'], { env: { DATABASE_URL: t.url } });
    expect(zone.code).toBe(2);
  });

  it('a recount from email_events gives the rollups ingest kept', async () => {
    const snapshot = async () => ({
      counts: (await sql`SELECT kind, bucket, events FROM campaign_event_counts WHERE campaign_id = 7 ORDER BY 1, 2`.execute(t.db)).rows,
      links: (await sql`SELECT link, clicks, unique_clicks FROM campaign_link_counts WHERE campaign_id = 7 ORDER BY 1`.execute(t.db)).rows,
    });
    const kept = await snapshot();
    expect(kept.counts.length).toBeGreaterThan(5);
    await sql`UPDATE campaign_event_counts SET events = events + 100 WHERE campaign_id = 7`.execute(t.db);
    await sql`DELETE FROM campaign_link_counts WHERE campaign_id = 7`.execute(t.db);
    expect((await recountRollups(t.db, 7)).events).toBe(22);
    expect(await snapshot()).toEqual(kept);
  });
});
