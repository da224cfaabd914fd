import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { runCli as runCliOnce, type RunOptions } from '../helpers/cli.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';
import { jsonl, publish } from '../fixtures/ses/records.js';
import { CAMPAIGN, expectedPlacement, ledgerClock, makeAbRepo, seedSubscribers, SUBJECT_A, subjectB } from './ab-repo.js';

const s = useSendingStack();
beforeEach(async () => {
  await sql`TRUNCATE subscribers, suppressions, campaigns, deliveries, campaign_tests, email_events RESTART IDENTITY CASCADE`.execute(s.t.db);
  await s.ses.clear();
  s.proxy.requests.length = 0;
});

const env = () => ({ ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url });
// A loaded machine sends slowly; a run may take minutes, never forever.
const runCli = (args: string[], o: RunOptions) => runCliOnce(args, { timeoutMs: 300_000, ...o });
const ZONES = ['Pacific/Chatham', 'Asia/Kathmandu', 'UTC', 'America/New_York'];

interface Row { id: string; subscriber_id: string; email: string; first_name: string; timezone: string; variant: string | null; in_test: boolean; status: string; message_id: string | null }
const ledger = async () => (await sql<Row>`
  SELECT d.id::text AS id, d.subscriber_id::text AS subscriber_id, s.email, s.first_name, d.timezone, d.variant, d.in_test, d.status, d.message_id
  FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id ORDER BY d.id`.execute(s.t.db)).rows;

async function dispatch(dir: string) {
  const r = await runCli(['dispatch', '--json', '--rate', '3000', '--concurrency', '16'], { cwd: dir, env: env(), timeoutMs: 300_000 });
  expect(r.code, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as { sent: number; decided: { campaign: number; winner: string; reason: string; assigned: number; note: string }[] };
}

describe('an A/B test across waves in several zones', { timeout: 600_000 }, () => {
  it('10,000 subscribers: the test share goes out 4 h before each wave, clicks choose b, and the rest gets only b', async () => {
    await seedSubscribers(s.t.db, 10_000, ZONES);
    const { dir, campaignFile } = makeAbRepo({ at: '2030-01-01 08:00' });

    const plan = await runCli(['plan', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(plan.code, plan.stderr).toBe(0);
    const planned = JSON.parse(plan.stdout).test;

    const sent = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(sent.code, sent.stderr).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ campaign: CAMPAIGN, enqueued: 10_000, sent: 0, test: { winner: null, waiting: expect.any(Number) } });

    // Placement: the documented hash, uniform, split evenly; nobody in the rest has a variant yet.
    const rows = await ledger();
    for (const r of rows) {
      expect({ inTest: r.in_test, variant: r.variant }).toEqual(expectedPlacement(CAMPAIGN, r.subscriber_id, 0.2, ['a', 'b']));
    }
    const inTest = rows.filter((r) => r.in_test);
    const countA = inTest.filter((r) => r.variant === 'a').length;
    expect(inTest.length).toBeGreaterThan(1800);
    expect(inTest.length).toBeLessThan(2200);
    expect(Math.abs(countA - (inTest.length - countA))).toBeLessThan(200);
    expect(planned).toMatchObject({
      test_recipients: inTest.length, rest_recipients: 10_000 - inTest.length, default: 'a', metric: 'clicks',
      variants: [{ name: 'a', subject: SUBJECT_A, test_recipients: countA }, { name: 'b', template: 'templates/weekly-b.mjml', test_recipients: inTest.length - countA }],
      // Chatham (+13:45) is first: 08:00 there is 18:15 UTC the day before.
      test_starts_at: '2029-12-31T14:15:00.000Z', decide_at: '2029-12-31T18:15:00.000Z', winner: null,
    });
    const { rows: [timing] } = await sql<{ wrong_test: number; wrong_rest: number }>`
      SELECT count(*) FILTER (WHERE in_test AND due_at <> ('2030-01-01 08:00'::timestamp AT TIME ZONE timezone) - interval '4 hours')::int AS wrong_test,
             count(*) FILTER (WHERE NOT in_test AND due_at <> ('2030-01-01 08:00'::timestamp AT TIME ZONE timezone))::int AS wrong_rest
      FROM deliveries`.execute(s.t.db);
    expect(timing).toEqual({ wrong_test: 0, wrong_rest: 0 });

    // 16:00 UTC: Chatham's test share is due, nothing else.
    const clock = ledgerClock(s.t.db);
    await clock('2029-12-31T16:00:00Z');
    const first = await dispatch(dir);
    const chathamTest = inTest.filter((r) => r.timezone === 'Pacific/Chatham');
    expect(first).toMatchObject({ sent: chathamTest.length, decided: [] });

    // Clicks come back through the real ingest: b's test mails are clicked far more often.
    const tested = (await ledger()).filter((r) => r.status === 'sent');
    const at = new Date().toISOString();
    const records = tested.flatMap((r, i) => {
      const m = { messageId: r.message_id!, to: r.email, at, deliveryId: r.id, campaignId: CAMPAIGN };
      const clicked = r.variant === 'b' ? i % 3 === 0 : i % 25 === 0;
      return [publish.delivery(m), ...(clicked ? [publish.click(m, 60, 'https://example.com/news')] : [])];
    });
    writeFileSync(path.join(dir, 'events.jsonl'), jsonl(records));
    const ingest = await runCli(['events', 'ingest', path.join(dir, 'events.jsonl'), '--json'], { cwd: dir, env: env() });
    expect(ingest.code, ingest.stderr).toBe(0);

    // 19:00 UTC: Chatham's rest is due, so the winner is chosen first, then the rest goes out.
    await clock('2029-12-31T19:00:00Z');
    const second = await dispatch(dir);
    const chathamRest = rows.filter((r) => r.timezone === 'Pacific/Chatham' && !r.in_test);
    expect(second.sent).toBe(chathamRest.length);
    expect(second.decided).toEqual([expect.objectContaining({ campaign: CAMPAIGN, winner: 'b', reason: 'leader', assigned: 10_000 - inTest.length })]);
    expect(second.decided[0]!.note).toMatch(/^b won on unique click rate: a \d+\.\d% \(\d+ of \d+\), b \d+\.\d% \(\d+ of \d+\)\. Two-proportion z-test of b against a: z = \d+\.\d\d, p = .*significant at the 95% level\.$/);
    const decidedRows = await ledger();
    expect(decidedRows.filter((r) => !r.in_test && r.variant !== 'b')).toEqual([]);

    // The next day: every other zone's test share (still its own variant) and rest (b).
    await clock('2030-01-01T14:00:00Z');
    const third = await dispatch(dir);
    expect(third).toMatchObject({ sent: 10_000 - chathamTest.length - chathamRest.length, decided: [] });

    const final = await ledger();
    expect(final.filter((r) => r.status !== 'sent')).toEqual([]);
    const mails = await s.ses.store();
    expect(mails).toHaveLength(10_000);
    const byAddress = new Map(final.map((r) => [r.email, r]));
    expect(new Set(mails.map((m) => m.destination.to[0])).size).toBe(10_000);
    for (const m of mails) {
      const r = byAddress.get(m.destination.to[0]!)!;
      const variant = r.in_test ? expectedPlacement(CAMPAIGN, r.subscriber_id, 0.2, ['a', 'b']).variant : 'b';
      expect(r.variant).toBe(variant);
      expect(m.subject).toBe(variant === 'a' ? SUBJECT_A : subjectB(r.first_name));
      expect(m.body.html).toContain(variant === 'a' ? `Hello ${r.first_name}` : `Shipped for you, ${r.first_name}`);
    }
    // SES tags carry the variant (the emulator drops tags; the proxy saw the requests).
    const byDelivery = new Map(final.map((r) => [r.id, r.variant]));
    expect(s.proxy.requests).toHaveLength(10_000);
    for (const req of s.proxy.requests) {
      const tags = Object.fromEntries((req.EmailTags ?? []).map((t) => [t.Name, t.Value]));
      expect(tags.variant).toBe(byDelivery.get(tags.delivery!));
    }

    const stats = await runCli(['stats', String(CAMPAIGN), '--json'], { cwd: dir, env: env() });
    const doc = JSON.parse(stats.stdout);
    expect(doc.sent).toBe(10_000);
    expect(doc.test).toMatchObject({ winner: 'b', reason: 'leader', default: 'a', waiting: 0, share: 0.2, metric: 'clicks' });
    expect(doc.variants).toEqual([
      expect.objectContaining({ name: 'a', default: true, winner: false, recipients: countA, sent: countA, test: expect.objectContaining({ recipients: countA }) }),
      expect.objectContaining({ name: 'b', default: false, winner: true, recipients: 10_000 - countA, sent: 10_000 - countA, test: expect.objectContaining({ recipients: inTest.length - countA }) }),
    ]);
    const human = await runCli(['stats', String(CAMPAIGN)], { cwd: dir, env: { ...env(), COLUMNS: '100' } });
    expect(human.stdout).toMatch(/Winner: b \(chosen .* UTC by .*\)\. b won on unique click rate/);
    expect(human.stdout).toMatch(/Variant .*Rcpts/);
    const report = await runCli(['report', String(CAMPAIGN), '--out', path.join(dir, 'report.html')], { cwd: dir, env: env() });
    expect(report.code, report.stderr).toBe(0);
    const html = readFileSync(path.join(dir, 'report.html'), 'utf8');
    expect(html).toContain('<h2>A/B test</h2>');
    expect(html).toContain('Winner: b. b won on unique click rate');

    // A re-run changes nothing and keeps the decision.
    const again = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(JSON.parse(again.stdout)).toMatchObject({ enqueued: 10_000, sent: 10_000, test: { winner: 'b' } });
    expect(await s.ses.store()).toHaveLength(10_000);
  });
});
