import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { seedDecemberCampaign } from '../fixtures/ses/december-campaign.js';
import { jsonl } from '../fixtures/ses/records.js';

let t: TestDb;
const dir = mkdtempSync(path.join(tmpdir(), 'marketer-report-'));

beforeAll(async () => {
  t = await createTestDb();
  const records = await seedDecemberCampaign(t.db);
  const file = path.join(dir, 'c7.jsonl');
  writeFileSync(file, jsonl(records));
  const r = await runCli(['events', 'ingest', file, '--json'], { env: { DATABASE_URL: t.url } });
  expect(JSON.parse(r.stdout)).toMatchObject({ ingested: records.length });
});

afterAll(async () => {
  await t?.close();
});

interface ReportDoc {
  stats: { opens: { total: number }; clicks: { total: number } };
  firstHours: { hours: number; start: string; series: { hour: string; opens: number; clicks: number }[] };
  problems: { bounces: { kind: string; reason: string; count: number }[]; complaints: { kind: string; count: number }[]; failures: { reason: string; count: number }[] };
  holds: { kind: string; reason: string }[];
}

describe('marketer report', () => {
  it('the hourly chart covers 72 hours from the first wave and agrees with the rollups', async () => {
    const r = await runCli(['report', '7', '--json', '--tz', 'Asia/Kathmandu'], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as ReportDoc;
    expect(doc.firstHours.start).toBe('2026-12-01T02:15:00.000Z');
    // 02:00Z to 02:00Z three days later; labelled in Kathmandu (+05:45).
    expect(doc.firstHours.series).toHaveLength(72);
    expect(doc.firstHours.series[0]!.hour).toBe('2026-12-01T07:45:00+05:45');
    const sum = (k: 'opens' | 'clicks') => doc.firstHours.series.reduce((s, h) => s + h[k], 0);
    expect(sum('opens')).toBe(doc.stats.opens.total);
    expect(sum('clicks')).toBe(doc.stats.clicks.total);
    expect([sum('opens'), sum('clicks')]).toEqual([7, 4]);
    // 08:10Z, 08:20Z, 08:30Z opens fall in the 08:00Z hour (13:45 in Kathmandu).
    expect(doc.firstHours.series.find((h) => h.hour === '2026-12-01T13:45:00+05:45')).toEqual({ hour: '2026-12-01T13:45:00+05:45', opens: 3, clicks: 2 });
  });

  it('breaks bounces, complaints and failures down by reason, without addresses', async () => {
    await sql`UPDATE deliveries SET error = 'SES rejected the message: Address blacklisted <s8@example.com>' WHERE campaign_id = 7 AND status = 'failed'`.execute(t.db);
    const r = await runCli(['report', '7', '--json', '--tz', 'UTC'], { env: { DATABASE_URL: t.url } });
    const doc = JSON.parse(r.stdout) as ReportDoc;
    // Diagnostic codes come from stored payloads, which ingest keeps only when configured to.
    expect(doc.problems.bounces.map((b) => b.kind).sort()).toEqual(['Permanent / General', 'Transient / MailboxFull', 'Undetermined / Undetermined']);
    expect(doc.problems.bounces.reduce((s, b) => s + b.count, 0)).toBe(3);
    expect(doc.problems.complaints.reduce((s, c) => s + c.count, 0)).toBe(1);
    expect(doc.problems.failures).toEqual([{ kind: 'failed', reason: 'SES rejected the message: Address blacklisted <<address>>', count: 1 }]);
    expect(doc.holds).toEqual([]);
  });

  it('writes one self-contained HTML file with the charts, the holds and the reasons', async () => {
    await sql`UPDATE campaigns SET status = 'paused', paused_reason = '5 consecutive send failures: SES throttled' WHERE id = 7`.execute(t.db);
    const out = path.join(dir, 'r7.html');
    const r = await runCli(['report', '7', '--out', out, '--tz', 'Europe/Berlin'], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Wrote .*r7\.html \([\d.]+ KB\): campaign 7, times in Europe\/Berlin\.\n$/);
    const html = readFileSync(out, 'utf8');
    // Nothing is loaded from elsewhere: no external src/href, and the page's CSP forbids it.
    expect(html).not.toMatch(/\s(src|href)\s*=\s*["']?(https?:)?\/\//i);
    expect(html).not.toMatch(/<link\b/i);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none';`);
    expect(html).toContain('Chart.js v4');
    expect(html).toMatch(/<canvas id="funnel"[^>]*aria-label="Enqueued 11, Sent 7, Delivered 6, Opened 4, Clicked 2"/);
    expect(html).toContain('<td>Permanent / General</td>');
    expect(html).toContain('5 consecutive send failures: SES throttled');
    // Each wave at its own local send time.
    expect(html).toContain('<td>Asia/Kathmandu</td><td><span class="t">Tue Dec 1, 08:00</span></td>');
    await sql`UPDATE campaigns SET status = 'running', paused_reason = NULL WHERE id = 7`.execute(t.db);
  });

  it('an unknown campaign is bad input', async () => {
    const r = await runCli(['report', '99', '--out', path.join(dir, 'x.html')], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/No campaign 99/);
  });
});
