import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { decideTest } from '../../src/experiments/decide-due-tests.js';
import { BIN, cleanEnv, runCli as runCliOnce, track, type RunOptions } from '../helpers/cli.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';
import { jsonl, publish } from '../fixtures/ses/records.js';
import { CAMPAIGN, makeAbRepo, seedSubscribers, SUBJECT_A, subjectB } from './ab-repo.js';

const s = useSendingStack();
beforeEach(async () => {
  await sql`TRUNCATE subscribers, suppressions, campaigns, deliveries, campaign_tests, email_events RESTART IDENTITY CASCADE`.execute(s.t.db);
  await s.ses.clear();
  s.proxy.requests.length = 0;
  Object.assign(s.proxy.answered, { throttled: 0, serverError: 0, forwarded: 0 });
});

const env = (extra: Record<string, string> = {}) => ({ ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url, MARKETER_LEASE_SECONDS: '5', ...extra });
// A loaded machine sends slowly; a run may take minutes, never forever.
const runCli = (args: string[], o: RunOptions) => runCliOnce(args, { timeoutMs: 300_000, ...o });

interface Row { id: string; email: string; first_name: string; variant: string | null; in_test: boolean; status: string; message_id: string | null }
const ledger = async () => (await sql<Row>`
  SELECT d.id::text AS id, s.email, s.first_name, d.variant, d.in_test, d.status, d.message_id
  FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id ORDER BY d.id`.execute(s.t.db)).rows;

/** Clicks for b's test mails (one in two) and a's (one in twenty), through the real ingest. */
async function ingestClicks(dir: string): Promise<void> {
  const at = new Date().toISOString();
  const records = (await ledger()).filter((r) => r.status === 'sent' && r.in_test).flatMap((r, i) => {
    const m = { messageId: r.message_id!, to: r.email, at, deliveryId: r.id, campaignId: CAMPAIGN };
    return (r.variant === 'b' ? i % 2 === 0 : i % 20 === 0) ? [publish.click(m, 30, 'https://example.com/news')] : [];
  });
  writeFileSync(path.join(dir, 'events.jsonl'), jsonl(records));
  const r = await runCli(['events', 'ingest', path.join(dir, 'events.jsonl')], { cwd: dir, env: env() });
  expect(r.code, r.stderr).toBe(0);
}

/** Every address got at most one mail, and the mail is the variant its delivery records. */
async function expectOneVariantEach(): Promise<number> {
  const byAddress = new Map((await ledger()).map((r) => [r.email, r]));
  const mails = await s.ses.store();
  const seen = new Map<string, number>();
  for (const m of mails) {
    const to = m.destination.to[0]!;
    seen.set(to, (seen.get(to) ?? 0) + 1);
    const r = byAddress.get(to)!;
    expect(m.subject).toBe(r.variant === 'a' ? SUBJECT_A : subjectB(r.first_name));
  }
  expect([...seen].filter(([, n]) => n > 1)).toEqual([]);
  return mails.length;
}

describe('nobody gets two variants', { timeout: 600_000 }, () => {
  it('without a schedule the test share goes out at once and the rest waits decide_after; two dispatchers and a kill -9 decide once and send each person one variant', async () => {
    await seedSubscribers(s.t.db, 1000);
    const { dir, campaignFile } = makeAbRepo({ share: 0.4, decideAfter: '1h' });
    const startedAt = Date.now();
    const first = await runCli(['send', campaignFile, '--json', '--rate', '1000'], { cwd: dir, env: env() });
    expect(first.code, first.stderr).toBe(0);
    const rows = await ledger();
    const inTest = rows.filter((r) => r.in_test).length;
    expect(JSON.parse(first.stdout)).toMatchObject({ enqueued: 1000, sent: inTest, queued: 1000 - inTest, test: { winner: null, waiting: 1000 - inTest } });
    const { rows: [due] } = await sql<{ min: Date; max: Date }>`SELECT min(due_at) AS min, max(due_at) AS max FROM deliveries WHERE NOT in_test`.execute(s.t.db);
    expect(due!.min.getTime()).toBe(due!.max.getTime());
    expect(due!.min.getTime() - startedAt).toBeGreaterThanOrEqual(3600_000);
    expect(due!.min.getTime() - Date.now()).toBeLessThanOrEqual(3600_000);
    // Nothing of the rest goes out before its time, even to a dispatcher.
    const early = await runCli(['dispatch', '--json'], { cwd: dir, env: env() });
    expect(JSON.parse(early.stdout)).toMatchObject({ sent: 0, decided: [] });

    await ingestClicks(dir);
    // The hour has passed.
    await sql`UPDATE deliveries SET due_at = now() WHERE NOT in_test`.execute(s.t.db);
    const spawnDispatcher = (worker: string) => {
      const child = track(spawn(process.execPath, [BIN, 'dispatch', '--worker', worker, '--json', '--rate', '150', '--concurrency', '4'], { cwd: dir, env: cleanEnv(env()), stdio: ['ignore', 'pipe', 'pipe'] }));
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      const exited = new Promise<{ code: number | null; stdout: () => string }>((r) => child.once('exit', (code) => r({ code, stdout: () => stdout })));
      return { child, exited };
    };
    const w1 = spawnDispatcher('w1');
    const w2 = spawnDispatcher('w2');
    while (s.proxy.answered.forwarded < inTest + 150) await new Promise((r) => setTimeout(r, 20));
    w1.child.kill('SIGKILL');
    await w1.exited;
    const second = await w2.exited;
    expect(second.code).toBe(0);
    const decidedBy = (await s.t.db.selectFrom('campaign_tests').select(['winner', 'decided_by', 'reason']).executeTakeFirstOrThrow());
    expect(decidedBy).toMatchObject({ winner: 'b', reason: 'leader' });
    const w2Decided = (JSON.parse(second.stdout()) as { decided: unknown[] }).decided;
    expect(w2Decided).toHaveLength(decidedBy.decided_by === 'w2' ? 1 : 0);

    // What the killed worker held comes back after its lease; a third run finishes.
    const last = await runCli(['dispatch', '--wait', '--json', '--rate', '1000'], { cwd: dir, env: env() });
    expect(last.code, last.stderr).toBe(0);
    expect(JSON.parse(last.stdout).decided).toEqual([]);
    const final = await ledger();
    expect(final.filter((r) => r.status !== 'sent' && r.status !== 'unknown')).toEqual([]);
    expect(final.filter((r) => !r.in_test && r.variant !== 'b')).toEqual([]);
    const mailed = await expectOneVariantEach();
    expect(mailed).toBeGreaterThanOrEqual(final.filter((r) => r.status === 'sent').length);

    // A re-run sends nobody anything.
    const rerun = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(JSON.parse(rerun.stdout)).toMatchObject({ enqueued: 1000, this_run: { sent: 0 }, test: { winner: 'b' } });
    expect(await s.ses.store()).toHaveLength(mailed);
  });

  it('several deciders at once make one decision and write the winner on the rest once', async () => {
    await seedSubscribers(s.t.db, 400);
    const { dir, campaignFile } = makeAbRepo({ share: 0.5, decideAfter: '2h', at: '2030-01-01 08:00' });
    expect((await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env() })).code).toBe(0);
    const made = await Promise.all(['x1', 'x2', 'x3', 'x4'].map((w) => decideTest(s.t.db, CAMPAIGN, w)));
    const decisions = made.filter((d) => d !== undefined);
    expect(decisions).toHaveLength(1);
    // Nothing was sent: too few events, so the default goes to the rest, and the note says why.
    expect(decisions[0]).toMatchObject({ winner: 'a', reason: 'too-few-events', assigned: (await ledger()).filter((r) => !r.in_test).length });
    expect(decisions[0]!.note).toBe('Too few events: no test mail was delivered; a, the default, goes to the rest. Unique click rate: a – (0 delivered), b – (0 delivered).');
  });

  it('send --now on a scheduled test: the test share at once, the rest decide_after later; no events choose a; the outbox records the variant', async () => {
    await seedSubscribers(s.t.db, 300, ['UTC', 'Asia/Tokyo']);
    const { dir, campaignFile } = makeAbRepo({ share: 0.3, decideAfter: '30m', at: '2030-06-01 09:00' });
    const outboxEnv = { ...env(), MARKETER_TRANSPORT: 'outbox' };
    const sent = await runCli(['send', campaignFile, '--now', '--json'], { cwd: dir, env: outboxEnv });
    expect(sent.code, sent.stderr).toBe(0);
    const rows = await ledger();
    const inTest = rows.filter((r) => r.in_test);
    expect(JSON.parse(sent.stdout)).toMatchObject({ sent: inTest.length, queued: 300 - inTest.length });
    const { rows: [rest] } = await sql<{ ahead: number }>`SELECT min(extract(epoch FROM due_at - now()))::int AS ahead FROM deliveries WHERE NOT in_test`.execute(s.t.db);
    expect(rest!.ahead).toBeGreaterThan(25 * 60);
    expect(rest!.ahead).toBeLessThanOrEqual(30 * 60);
    const human = await runCli(['stats', String(CAMPAIGN)], { cwd: dir, env: outboxEnv });
    expect(human.stdout).toContain('The winner is chosen when the rest comes due');

    await sql`UPDATE deliveries SET due_at = now() WHERE NOT in_test`.execute(s.t.db);
    const rest2 = await runCli(['dispatch'], { cwd: dir, env: outboxEnv });
    expect(rest2.code, rest2.stderr).toBe(0);
    expect(rest2.stdout).toMatch(/Campaign 14: A\/B test winner a, now going to \d+ waiting deliveries\. Too few events: only 0 clicks among \d+ delivered test mails \(10 needed to compare\); a, the default, goes to the rest\./);
    const files = readdirSync(path.join(dir, 'outbox', String(CAMPAIGN)));
    expect(files).toHaveLength(300);
    const variantOf = new Map((await ledger()).map((r) => [r.id, r.variant]));
    for (const f of files) {
      const eml = readFileSync(path.join(dir, 'outbox', String(CAMPAIGN), f), 'utf8');
      const delivery = /^X-Marketer-Delivery: (\d+)$/m.exec(eml)![1]!;
      expect(/^X-Marketer-Variant: (\w+)$/m.exec(eml)?.[1]).toBe(variantOf.get(delivery));
    }
    const stats = JSON.parse((await runCli(['stats', String(CAMPAIGN), '--json'], { cwd: dir, env: outboxEnv })).stdout);
    expect(stats.test).toMatchObject({ winner: 'a', reason: 'too-few-events' });
    expect(stats.variants.map((v: { name: string; sent: number }) => [v.name, v.sent])).toEqual([
      ['a', 300 - inTest.filter((r) => r.variant === 'b').length],
      ['b', inTest.filter((r) => r.variant === 'b').length],
    ]);
    // Editing a variant's template after sending began is refused like editing the campaign's.
    writeFileSync(path.join(dir, 'templates', 'weekly-b.mjml'), readFileSync(path.join(dir, 'templates', 'weekly-b.mjml'), 'utf8').replace('Shipped', 'Built'));
    const changed = await runCli(['send', campaignFile], { cwd: dir, env: outboxEnv });
    expect(changed.code).toBe(2);
    expect(changed.stderr).toMatch(/changed after sending began/);
  });
});
