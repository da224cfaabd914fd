import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { recountRollups } from '../../src/reports/recount-rollups.js';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { DECEMBER_FIGURES, DECEMBER_KATHMANDU_HOURS, seedDecemberCampaign } from '../fixtures/ses/december-campaign.js';
import { jsonl } from '../fixtures/ses/records.js';

let t: TestDb;
const dir = mkdtempSync(path.join(tmpdir(), 'marketer-stats-'));

beforeAll(async () => {
  t = await createTestDb();
  const records = await seedDecemberCampaign(t.db);
  // A third of the records first, then all of them: the second ingest's one batch is partly
  // stored already, and only its new events may count (the figures below are exact).
  const part = path.join(dir, 'c7-part.jsonl');
  writeFileSync(part, jsonl(records.filter((_, i) => i % 3 === 1)));
  const first = await runCli(['events', 'ingest', part, '--json'], { env: { DATABASE_URL: t.url } });
  const stored = (JSON.parse(first.stdout) as { ingested: number }).ingested;
  expect(stored).toBeGreaterThan(0);
  const file = path.join(dir, 'c7.jsonl');
  writeFileSync(file, jsonl(records));
  const r = await runCli(['events', 'ingest', file, '--json'], { env: { DATABASE_URL: t.url } });
  expect(JSON.parse(r.stdout)).toMatchObject({ ingested: records.length - stored, duplicates: stored, unmatched: 0, malformed: 0 });
});

afterAll(async () => {
  await t?.close();
});

describe('marketer stats', () => {
  it('gives the hand-computed figures as one JSON document', async () => {
    const r = await runCli(['stats', '7', '--json', '--tz', 'Asia/Kathmandu'], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    const { waves, ...figures } = DECEMBER_FIGURES;
    expect(s).toMatchObject(figures);
    const rates = s.rates as Record<string, number>;
    expect(rates.delivery).toBeCloseTo(6 / 7, 10);
    expect(rates.open).toBeCloseTo(4 / 6, 10);
    expect(rates.click).toBeCloseTo(2 / 6, 10);
    expect(rates.clickToOpen).toBeCloseTo(0.5, 10);
    expect(rates.bounce).toBeCloseTo(1 / 7, 10);
    expect(rates.complaint).toBeCloseTo(1 / 6, 10);
    expect((s.alerts as { metric: string; level: string }[]).map((a) => `${a.metric}:${a.level}`)).toEqual(['bounce:critical', 'complaint:critical']);
    expect(s.waves).toEqual(waves);
    // Hours in the viewer's zone (+05:45), gaps filled: 08:00 local (s9) to 19:00 local (s6).
    const timeline = s.timeline as { hour: string; opens: number; clicks: number }[];
    expect(timeline).toHaveLength(12);
    expect(timeline.filter((h) => h.opens + h.clicks > 0)).toEqual(DECEMBER_KATHMANDU_HOURS);
  });

  it('counts only later events with --since, and reads the id from a campaign file', async () => {
    const file = path.join(dir, 'december.yaml');
    writeFileSync(file, 'id: 7\nname: December news\nsubject: Hi\n');
    const r = await runCli(['stats', file, '--json', '--tz', 'UTC', '--since', '2026-12-01T13:00'], { env: { DATABASE_URL: t.url } });
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({ recipients: 11, sent: 7, delivered: 2, opens: { unique: 1, total: 2 }, clicks: { unique: 1, total: 1 }, bounced: { hard: 0, soft: 1 } });
  });

  it('prints a report with the alerts and the timeline, and lists campaigns', async () => {
    const r = await runCli(['stats', '7', '--tz', 'UTC'], { env: { DATABASE_URL: t.url, COLUMNS: '80' } });
    expect(r.code).toBe(0);
    // Fits an 80-column terminal, line by line.
    expect(r.stdout.split('\n').filter((l) => [...l].length > 80)).toEqual([]);
    // The funnel as bars against the recipients (11): sent 7, delivered 6.
    expect(r.stdout).toMatch(/^  Recipients  11  █{40}$/m);
    expect(r.stdout).toMatch(/^  Delivered    6  █{21}[▏▎▍▌▋▊▉]? +85\.7% of sent$/m);
    expect(r.stdout).toMatch(/Campaign 7 · December news/);
    expect(r.stdout).toMatch(/critical bounce rate 14\.29% \(threshold 10\.0%\)/);
    expect(r.stdout).toMatch(/critical complaint rate 16\.67% \(threshold 0\.3%\)/);
    // One column per UTC hour (02:00 to 14:00 had events); ▃ is a third of the busiest hour (08:00: 3 opens).
    expect(r.stdout).toContain(`  Tue Dec 01    ▃·····█▃···▃▃${' '.repeat(9)}      7 opens\n`);
    expect(r.stdout).toContain(`\n${' '.repeat(14)}  ······▆▃···▃·${' '.repeat(9)}      4 clicks\n`);
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
      waves: (await sql`SELECT timezone, delivered, opened, clicked, bounced, complained, unsubscribed FROM campaign_wave_firsts WHERE campaign_id = 7 ORDER BY 1`.execute(t.db)).rows,
    });
    const kept = await snapshot();
    expect(kept.counts.length).toBeGreaterThan(5);
    expect(kept.waves).toHaveLength(3);
    await sql`UPDATE campaign_event_counts SET events = events + 100 WHERE campaign_id = 7`.execute(t.db);
    await sql`DELETE FROM campaign_link_counts WHERE campaign_id = 7`.execute(t.db);
    await sql`UPDATE campaign_wave_firsts SET opened = 0 WHERE campaign_id = 7`.execute(t.db);
    expect((await recountRollups(t.db, 7)).events).toBe(22);
    expect(await snapshot()).toEqual(kept);
  });
});
