import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, runCli, track } from '../helpers/cli.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';

const s = useSendingStack();
beforeEach(async () => {
  await sql`TRUNCATE subscribers, suppressions, campaigns, deliveries RESTART IDENTITY CASCADE`.execute(s.t.db);
  await s.ses.clear();
  s.proxy.requests.length = 0;
  s.proxy.faults = {};
  Object.assign(s.proxy.answered, { throttled: 0, serverError: 0, forwarded: 0 });
  s.proxy.forwardedAt.length = 0;
});

async function seed(n: number, zone = 'UTC'): Promise<void> {
  await sql`INSERT INTO subscribers (email, first_name, timezone, tags)
            SELECT 'user' || i || '@example.com', 'User' || i, ${zone}, '{newsletter}' FROM generate_series(1, ${n}) i`.execute(s.t.db);
}

// Each command sends hundreds to thousands of mails: on a loaded machine one may take minutes,
// and the tests allow 3 (below); the CLI is stopped a little before that.
const runLong = (args: string[], o: Parameters<typeof runCli>[1]) => runCli(args, { ...o, timeoutMs: 170_000 });

const env = (extra: Record<string, string> = {}) => ({ ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url, MARKETER_LEASE_SECONDS: '5', ...extra });

async function statusCounts(): Promise<Record<string, number>> {
  const { rows } = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM deliveries GROUP BY status`.execute(s.t.db);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

async function storeAddresses(): Promise<string[]> {
  return (await s.ses.store()).map((e) => e.destination.to[0]!);
}

function expectNoDuplicates(addresses: string[]): void {
  const seen = new Map<string, number>();
  for (const a of addresses) seen.set(a, (seen.get(a) ?? 0) + 1);
  expect([...seen].filter(([, n]) => n > 1)).toEqual([]);
}

// Thousands of real sends through the emulator per test: on a loaded machine that takes minutes.
describe('send and dispatch under failure', { timeout: 180_000 }, () => {
  it('survives SIGKILL mid-send: after a restart nobody is mailed twice and nobody is lost', async () => {
    await seed(2000);
    const { dir, campaignFile } = makeCampaignRepo();
    const child = track(spawn(process.execPath, [BIN, 'send', campaignFile, '--rate', '400', '--concurrency', '8'], { cwd: dir, env: cleanEnv(env()), stdio: 'ignore' }));
    const exited = new Promise((r) => child.once('exit', r));
    while (s.proxy.answered.forwarded < 400) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await exited;
    const atKill = await statusCounts();
    expect(atKill.sending ?? 0).toBeGreaterThan(0);
    expect(atKill.queued ?? 0).toBeGreaterThan(0);

    const r = await runLong(['dispatch', '--campaign', '7', '--wait', '--json', '--rate', '1000'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const counts = await statusCounts();
    expect((counts.sent ?? 0) + (counts.unknown ?? 0)).toBe(2000);
    expect(counts.queued ?? 0).toBe(0);
    expect(counts.sending ?? 0).toBe(0);
    // Only requests that may have left when the process died are unknown: at most the
    // messages in flight plus one unflushed batch of results.
    expect(counts.unknown ?? 0).toBeLessThan(100);
    const addresses = await storeAddresses();
    expectNoDuplicates(addresses);
    const sent = await s.t.db.selectFrom('deliveries').innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
      .select(['subscribers.email', 'deliveries.status']).execute();
    const inStore = new Set(addresses);
    for (const row of sent) if (row.status === 'sent') expect(inStore.has(row.email)).toBe(true);
    expect(addresses.length).toBeGreaterThanOrEqual(counts.sent ?? 0);
    expect((await s.t.db.selectFrom('campaigns').select('status').executeTakeFirstOrThrow()).status).toBe('done');
  });

  it('stops cleanly on Ctrl-C: what was sent is recorded, the rest goes back to the queue', async () => {
    await seed(300);
    const { dir, campaignFile } = makeCampaignRepo();
    const child = track(spawn(process.execPath, [BIN, 'send', campaignFile, '--rate', '60', '--json'], { cwd: dir, env: cleanEnv(env()), stdio: ['ignore', 'pipe', 'pipe'] }));
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    while (s.proxy.answered.forwarded < 40) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const doc = JSON.parse(stdout);
    expect(doc.stopped).toMatchObject({ reason: 'interrupted' });
    const counts = await statusCounts();
    expect(counts.sending ?? 0).toBe(0);
    expect(counts.unknown ?? 0).toBe(0);
    expect((counts.sent ?? 0) + (counts.queued ?? 0)).toBe(300);
    expect(await storeAddresses()).toHaveLength(counts.sent ?? 0);
    const resumed = await runLong(['send', campaignFile, '--json', '--rate', '1000'], { cwd: dir, env: env() });
    expect(JSON.parse(resumed.stdout)).toMatchObject({ sent: 300, queued: 0, status: 'done' });
    const addresses = await storeAddresses();
    expect(addresses).toHaveLength(300);
    expectNoDuplicates(addresses);
  });

  it('runs three dispatchers at once without sending anyone twice', async () => {
    await seed(1500);
    const { dir, campaignFile } = makeCampaignRepo({ at: '2030-01-01 08:00' });
    const enq = await runLong(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(enq.code, enq.stderr).toBe(0);
    expect(JSON.parse(enq.stdout)).toMatchObject({ campaign: 7, enqueued: 1500, sent: 0, queued: 1500 });
    await sql`UPDATE deliveries SET due_at = now()`.execute(s.t.db);
    const workers = await Promise.all(['a', 'b', 'c'].map((w) =>
      runLong(['dispatch', '--worker', w, '--json', '--rate', '300', '--concurrency', '4'], { cwd: dir, env: env() })));
    const sentBy = workers.map((w) => {
      expect(w.code, w.stderr).toBe(0);
      return (JSON.parse(w.stdout) as { sent: number }).sent;
    });
    expect(sentBy.reduce((a, b) => a + b, 0)).toBe(1500);
    expect(sentBy.filter((n) => n > 0).length).toBeGreaterThan(1);
    const addresses = await storeAddresses();
    expect(addresses).toHaveLength(1500);
    expectNoDuplicates(addresses);
    expect(await statusCounts()).toEqual({ sent: 1500 });
  });

  it('rides out throttling and server errors: all sent once, nobody left queued', async () => {
    await seed(300);
    // SES allows 60/s here; marketer is told 200/s. A busy machine may never reach 60/s, so
    // SES also refuses the first 30 calls outright; 10% of calls fail with a 500. (How the
    // limiter slows down is tested with its own clock in rate-limiter.test.ts: its pace at the
    // end of a run depends on how long the run took.)
    s.proxy.faults = { maxPerSecond: 60, throttleFirst: 30, serverError: 0.1 };
    const { dir, campaignFile } = makeCampaignRepo();
    const r = await runLong(['send', campaignFile, '--json', '--rate', '200'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ campaign: 7, enqueued: 300, sent: 300, failed: 0, unknown: 0, queued: 0 });
    expect(doc.this_run.throttled).toBeGreaterThan(0);
    expect(doc.this_run.retries).toBeGreaterThan(doc.this_run.throttled);
    expect(s.proxy.answered.throttled).toBeGreaterThan(0);
    expect(s.proxy.answered.serverError).toBeGreaterThan(0);
    const addresses = await storeAddresses();
    expect(addresses).toHaveLength(300);
    expectNoDuplicates(addresses);
  });

  it('does not end while a recipient throttled on every attempt of the last batch is still queued', async () => {
    await seed(120);
    // Eight attempts per claim, all refused: the row goes back to the queue after the claim
    // that found nothing more, and must still be sent by this run.
    s.proxy.faults = { refuseRecipient: { to: 'user120@example.com', status: 429, times: 8 } };
    const { dir, campaignFile } = makeCampaignRepo();
    const r = await runLong(['send', campaignFile, '--json', '--rate', '500'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(s.proxy.faults.refuseRecipient?.times).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sent: 120, queued: 0, failed: 0, status: 'done' });
    const addresses = await storeAddresses();
    expect(addresses).toHaveLength(120);
    expectNoDuplicates(addresses);
  });

  it('retries in the same run a recipient whose every attempt of a round hit a server error', async () => {
    await seed(50);
    s.proxy.faults = { refuseRecipient: { to: 'user7@example.com', status: 500, times: 9 } };
    const { dir, campaignFile } = makeCampaignRepo();
    const r = await runLong(['send', campaignFile, '--json', '--rate', '500'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(s.proxy.faults.refuseRecipient?.times).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sent: 50, queued: 0, failed: 0, status: 'done', this_run: { retries: 9 } });
    expect(await statusCounts()).toEqual({ sent: 50 });
  });

  it('never mails the suppressed, even when suppressed between enqueue and send', async () => {
    await seed(20);
    await sql`UPDATE subscribers SET status = 'unsubscribed' WHERE email = 'user1@example.com'`.execute(s.t.db);
    await sql`INSERT INTO suppressions (email_hash, reason) VALUES (marketer_address_hash('user2@example.com'), 'complained')`.execute(s.t.db);
    const { dir, campaignFile } = makeCampaignRepo({ at: '2030-01-01 08:00' });
    const enq = await runLong(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(JSON.parse(enq.stdout).enqueued).toBe(18);
    // After enqueue: one unsubscribes, one address is suppressed (forgotten).
    await sql`UPDATE subscribers SET status = 'bounced' WHERE email = 'user3@example.com'`.execute(s.t.db);
    await sql`INSERT INTO suppressions (email_hash, reason) VALUES (marketer_address_hash('user4@example.com'), 'forgotten')`.execute(s.t.db);
    await sql`UPDATE deliveries SET due_at = now()`.execute(s.t.db);
    const r = await runLong(['dispatch', '--json'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sent: 16, skipped: 2 });
    const addresses = await storeAddresses();
    expect(addresses.sort()).toEqual(Array.from({ length: 16 }, (_, i) => `user${i + 5}@example.com`).sort());
    expect(await statusCounts()).toEqual({ sent: 16, skipped: 2 });
  });

  it('refuses a campaign whose file changed after sending began; a plain re-run sends nothing new', async () => {
    await seed(30);
    const { dir, campaignFile } = makeCampaignRepo();
    const first = await runLong(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(JSON.parse(first.stdout)).toMatchObject({ sent: 30 });
    const again = await runLong(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ enqueued: 30, sent: 30, this_run: { sent: 0 } });
    const template = path.join(dir, 'templates', 'simple.mjml');
    writeFileSync(template, readFileSync(template, 'utf8').replace('see', 'read'));
    writeFileSync(campaignFile, readFileSync(campaignFile, 'utf8').replace('name: Test campaign', 'name: Renamed'));
    const changed = await runLong(['send', campaignFile], { cwd: dir, env: env() });
    expect(changed.code).toBe(2);
    expect(changed.stderr).toContain('Campaign 7 (campaigns/c.yaml) changed after sending began: 30 deliveries have been attempted with the earlier version.');
    expect(changed.stderr).toContain('campaign file: "name" changed');
    expect(changed.stderr).toContain('template: its content changed');
    expect(await storeAddresses()).toHaveLength(30);
  });

  it('keeps going when Postgres drops its connections mid-send', async () => {
    await seed(600);
    const { dir, campaignFile } = makeCampaignRepo();
    const run = runLong(['send', campaignFile, '--json', '--rate', '300', '--concurrency', '8'], { cwd: dir, env: env() });
    let kills = 0;
    const killer = (async () => {
      while (s.proxy.answered.forwarded < 50) await new Promise((r) => setTimeout(r, 20));
      for (let i = 0; i < 6; i++) {
        const r = await sql<{ n: number }>`
          SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
          WHERE application_name = 'marketer' AND datname = current_database()`.execute(s.t.db);
        kills += r.rows[0]?.n ?? 0;
        await new Promise((r) => setTimeout(r, 250));
      }
    })();
    const [r] = await Promise.all([run, killer]);
    expect(kills).toBeGreaterThan(0);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sent: 600, queued: 0, unknown: 0, failed: 0 });
    const addresses = await storeAddresses();
    expect(addresses).toHaveLength(600);
    expectNoDuplicates(addresses);
  });

  it('stops on SendingPausedException with a clear message and leaves the rest queued', async () => {
    await seed(10);
    s.proxy.faults = { rejectAll: 'SendingPausedException' };
    const { dir, campaignFile } = makeCampaignRepo();
    const r = await runLong(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Sending stopped: SendingPausedException');
    expect(JSON.parse(r.stdout)).toMatchObject({ sent: 0, queued: 10, stopped: { reason: 'fatal' } });
    expect(await statusCounts()).toEqual({ queued: 10 });
  });

  it('pauses a campaign after too many failures in a row; send resumes it', async () => {
    await seed(40);
    s.proxy.faults = { rejectAll: 'MessageRejected' };
    const { dir, campaignFile } = makeCampaignRepo();
    const r = await runLong(['send', campaignFile, '--json', '--concurrency', '1'], { cwd: dir, env: env({ MARKETER_MAX_CONSECUTIVE_FAILURES: '5' }) });
    // Deliveries failed in this run: exit 1 (the pause alone is not a breaker).
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.failed).toBe(5);
    expect(doc.errors).toEqual([{ error: 'MessageRejected: MessageRejected (injected)', count: 5 }]);
    expect(doc.paused[0].reason).toContain('5 sends in a row failed; last error: MessageRejected');
    const campaign = await s.t.db.selectFrom('campaigns').select(['status', 'paused_reason']).executeTakeFirstOrThrow();
    expect(campaign.status).toBe('paused');
    s.proxy.faults = {};
    const resumed = await runLong(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(JSON.parse(resumed.stdout)).toMatchObject({ sent: 35, failed: 5, queued: 0, status: 'done' });
  });
});
