import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { DateTime } from 'luxon';
import { beforeEach, describe, expect, it } from 'vitest';
import { breakerTrip } from '../../src/sending/policy/circuit-breaker.js';
import { jsonl, publish } from '../fixtures/ses/records.js';
import { BIN, cleanEnv, runCli } from '../helpers/cli.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';
import { GitRepo } from '../git/git-repo.js';

const s = useSendingStack();
beforeEach(async () => {
  await sql`TRUNCATE subscribers, suppressions, campaigns, deliveries, email_events, campaign_event_counts, campaign_wave_firsts RESTART IDENTITY CASCADE`.execute(s.t.db);
  await s.ses.clear();
});

const env = (extra: Record<string, string> = {}) => ({ ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url, ...extra });
const limits = { maxBounceRate: 0.05, maxComplaintRate: 0.001, minSample: 200 };

describe('circuit breakers: the rules', () => {
  it('trip on hard bounces or complaints past their limit, only once the sample is large enough', () => {
    expect(breakerTrip({ settled: 199, hardBounces: 100, complaints: 50 }, limits)).toBeUndefined();
    expect(breakerTrip({ settled: 200, hardBounces: 10, complaints: 0 }, limits)).toBeUndefined();
    expect(breakerTrip({ settled: 200, hardBounces: 11, complaints: 0 }, limits)).toEqual({
      breaker: 'bounce', reason: 'hard bounce rate 5.5% (11 of 200 settled deliveries) is above max_bounce_rate 5.0%',
    });
    expect(breakerTrip({ settled: 1000, hardBounces: 0, complaints: 1 }, limits)).toBeUndefined();
    expect(breakerTrip({ settled: 1000, hardBounces: 0, complaints: 2 }, limits)).toEqual({
      breaker: 'complaint', reason: 'complaint rate 0.20% (2 of 1000 settled deliveries) is above max_complaint_rate 0.10%',
    });
  });
});

/**
 * 250 subscribers whose wave has come (UTC) and 50 whose wave is hours away (UTC-5), so a
 * `--wait` run sends the first 250 and stays up for the rest: the window in which SES events
 * arrive and the breaker must act.
 */
async function twoWaves(): Promise<{ dir: string; campaignFile: string }> {
  await sql`INSERT INTO subscribers (email, timezone, tags) SELECT 'now' || i || '@example.com', 'UTC', '{newsletter}' FROM generate_series(1, 250) i`.execute(s.t.db);
  await sql`INSERT INTO subscribers (email, timezone, tags) SELECT 'later' || i || '@example.com', 'Etc/GMT+5', '{newsletter}' FROM generate_series(1, 50) i`.execute(s.t.db);
  const at = DateTime.utc().minus({ minutes: 30 }).toFormat('yyyy-LL-dd HH:mm');
  return makeCampaignRepo({ at, timezone: 'subscriber' });
}

/** SES events for the sent deliveries: `bad` of them bounce hard (or complain), the rest are delivered. */
async function eventsFor(kind: 'bounce' | 'complaint', bad: number): Promise<string> {
  const { rows } = await sql<{ id: string; email: string; message_id: string }>`
    SELECT d.id::text AS id, s.email, d.message_id FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
    WHERE d.status = 'sent' ORDER BY d.id`.execute(s.t.db);
  const at = new Date().toISOString();
  return jsonl(rows.flatMap((r, i): unknown[] => {
    const m = { messageId: r.message_id, to: r.email, at, deliveryId: r.id, campaignId: 7 };
    if (i >= bad) return [publish.delivery(m)];
    return kind === 'bounce' ? [publish.bounce(m, 'Permanent', 'General')] : [publish.delivery(m), publish.complaint(m)];
  }));
}

// Each test sends a wave, ingests events and waits for the run to notice (up to one 15 s poll).
describe('circuit breakers during a send', { timeout: 240_000 }, () => {
  it.each([
    { kind: 'bounce' as const, command: 'send', bad: 20, expected: 'hard bounce rate 8.0% (20 of 250 settled deliveries) is above max_bounce_rate 5.0%' },
    { kind: 'complaint' as const, command: 'dispatch', bad: 1, expected: 'complaint rate 0.40% (1 of 250 settled deliveries) is above max_complaint_rate 0.10%' },
  ])('the $kind breaker pauses the campaign while `$command --wait` runs; send resumes it', async ({ kind, command, bad, expected }) => {
    const { dir, campaignFile } = await twoWaves();
    if (command === 'dispatch') {
      // send mails the first wave and ends; a dispatcher then stays up for the second.
      const first = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env() });
      expect(JSON.parse(first.stdout)).toMatchObject({ sent: 250, queued: 50 });
    }
    const args = command === 'send' ? ['send', campaignFile, '--wait', '--json'] : ['dispatch', '--wait', '--json'];
    const child = spawn(process.execPath, [BIN, ...args], { cwd: dir, env: cleanEnv(env()), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // The first wave goes out; the second is hours away, so the run stays up.
    for (;;) {
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM deliveries WHERE status = 'sent'`.execute(s.t.db);
      if (rows[0]!.n === 250) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // Events arrive while it waits, through the real ingest command.
    const file = path.join(dir, 'events.jsonl');
    writeFileSync(file, await eventsFor(kind, bad));
    const ingest = await runCli(['events', 'ingest', file, '--json'], { cwd: dir, env: env() });
    expect(ingest.code, ingest.stderr).toBe(0);

    expect(await exited).toBe(1);
    const doc = JSON.parse(stdout);
    expect(doc.paused).toEqual([{ campaign: 7, breaker: kind, reason: expected }]);
    const campaign = await s.t.db.selectFrom('campaigns').select(['status', 'paused_reason']).executeTakeFirstOrThrow();
    expect(campaign).toEqual({ status: 'paused', paused_reason: expected });
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM deliveries WHERE status = 'queued'`.execute(s.t.db);
    expect(rows[0]!.n).toBe(50);

    const stats = await runCli(['stats', '7', '--json'], { cwd: dir, env: env() });
    expect(JSON.parse(stats.stdout)).toMatchObject({ status: 'paused', pausedReason: expected });
    const human = await runCli(['stats', '7'], { cwd: dir, env: env() });
    expect(human.stdout).toContain(`Paused: ${expected}.`);

    // After a human looked: send resumes, and the breaker counts afresh from here.
    const resumed = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ sent: 250, queued: 50, status: 'running', paused: [] });
  });

  it('fails `apply` (the send on merge) when its dispatch finds a breaker tripped', async () => {
    const { dir, campaignFile } = await twoWaves();
    const first = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(JSON.parse(first.stdout)).toMatchObject({ sent: 250, queued: 50 });
    writeFileSync(path.join(dir, 'events.jsonl'), await eventsFor('bounce', 20));
    expect((await runCli(['events', 'ingest', path.join(dir, 'events.jsonl')], { cwd: dir, env: env() })).code).toBe(0);
    // The second wave comes due; a merge that changes no campaign runs apply, which dispatches it.
    await sql`UPDATE deliveries SET due_at = now() WHERE status = 'queued'`.execute(s.t.db);
    const repo = new GitRepo(dir);
    const base = repo.commit('campaigns');
    repo.write({ 'README.md': 'notes\n' }).commit('notes');
    const summary = path.join(dir, 'summary.md');
    const r = await runCli(['apply', '--since', base, '--json', '--summary', summary], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(1);
    const expected = 'hard bounce rate 8.0% (20 of 250 settled deliveries) is above max_bounce_rate 5.0%';
    expect(JSON.parse(r.stdout).dispatch).toMatchObject({ sent: 0, paused: [{ campaign: 7, breaker: 'bounce', reason: expected }] });
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM deliveries WHERE status = 'queued'`.execute(s.t.db);
    expect(rows[0]!.n).toBe(50);
    const md = readFileSync(summary, 'utf8');
    expect(md).toContain('## ❌ marketer apply');
    expect(md).toContain('**Paused: campaign 7** hard bounce rate 8.0% (20 of 250 settled deliveries) is above max\\_bounce\\_rate 5.0%.');
  });

  it('puts a tripped breaker in the step summary and fails the command', async () => {
    const { dir, campaignFile } = await twoWaves();
    const summary = path.join(dir, 'summary.md');
    const child = spawn(process.execPath, [BIN, 'send', campaignFile, '--wait', '--summary', summary], { cwd: dir, env: cleanEnv(env()), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    for (;;) {
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM deliveries WHERE status = 'sent'`.execute(s.t.db);
      if (rows[0]!.n === 250) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    writeFileSync(path.join(dir, 'events.jsonl'), await eventsFor('bounce', 30));
    expect((await runCli(['events', 'ingest', path.join(dir, 'events.jsonl')], { cwd: dir, env: env() })).code).toBe(0);
    expect(await exited).toBe(1);
    expect(stderr).toContain('campaign 7 paused by the bounce breaker: hard bounce rate 12.0% (30 of 250 settled deliveries) is above max_bounce_rate 5.0%');
    const md = readFileSync(summary, 'utf8');
    expect(md).toContain('## ❌ marketer send');
    expect(md).toContain('**Paused: campaign 7** hard bounce rate 12.0% (30 of 250 settled deliveries) is above max\\_bounce\\_rate 5.0%.');
  });
});
