import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../../src/db/types.js';
import { migrate } from '../../src/db/migrate.js';
import { campaignStats, listCampaignStats, type CampaignStats } from '../../src/reports/campaign-stats.js';
import { suppress } from '../../src/subscribers/suppress.js';
import { jsonl, publish } from '../fixtures/ses/records.js';
import { BIN, cleanEnv, runCli, track } from '../helpers/cli.js';
import { campaignYaml, makeCampaignRepo } from '../helpers/campaign-repo.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';

// `stats` reads the ledger's counts from campaign_ledger_counts, which triggers on deliveries
// keep. Each test does to the ledger what marketer does to it for real and compares those
// counts with a fresh count of the deliveries themselves.
const s = useSendingStack();
const ZONES = ['UTC', 'Asia/Kathmandu', 'America/New_York'];

beforeEach(async () => {
  await sql`TRUNCATE subscribers, suppressions, campaigns, deliveries, email_events, campaign_event_counts, campaign_wave_firsts RESTART IDENTITY CASCADE`.execute(s.t.db);
  await s.ses.clear();
  s.proxy.faults = {};
  Object.assign(s.proxy.answered, { throttled: 0, serverError: 0, forwarded: 0 });
});

async function seed(n: number): Promise<void> {
  await sql`INSERT INTO subscribers (email, first_name, timezone, tags)
            SELECT 'user' || i || '@example.com', 'User' || i, (${ZONES}::text[])[1 + i % 3], '{newsletter}' FROM generate_series(1, ${n}) i`.execute(s.t.db);
}

const env = (extra: Record<string, string> = {}) => ({ ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url, MARKETER_LEASE_SECONDS: '5', ...extra });
const runLong = (args: string[], o: Parameters<typeof runCli>[1]) => runCli(args, { ...o, timeoutMs: 170_000 });

type Counts = Record<string, { deliveries: number; suppressed: number }>;
const byGroup = (rows: { timezone: string; status: string; deliveries: number; suppressed: number }[]): Counts =>
  Object.fromEntries(rows.filter((r) => r.deliveries !== 0 || r.suppressed !== 0).map((r) => [`${r.timezone} ${r.status}`, { deliveries: r.deliveries, suppressed: r.suppressed }]));

/** The maintained counts and a fresh count of the ledger, read in one snapshot. */
async function bothCounts(db: Kysely<Database>, campaignId: number): Promise<{ maintained: Counts; fresh: Counts }> {
  return db.transaction().setIsolationLevel('repeatable read').execute(async (trx) => {
    const maintained = await sql<{ timezone: string; status: string; deliveries: number; suppressed: number }>`
      SELECT timezone, status, sum(deliveries)::int AS deliveries, sum(suppressed)::int AS suppressed
      FROM campaign_ledger_counts WHERE campaign_id = ${campaignId} GROUP BY timezone, status`.execute(trx);
    const fresh = await sql<{ timezone: string; status: string; deliveries: number; suppressed: number }>`
      SELECT timezone, status, count(*)::int AS deliveries, count(*) FILTER (WHERE error = 'suppressed')::int AS suppressed
      FROM deliveries WHERE campaign_id = ${campaignId} GROUP BY timezone, status`.execute(trx);
    return { maintained: byGroup(maintained.rows), fresh: byGroup(fresh.rows) };
  });
}

async function expectExact(campaignId: number): Promise<Counts> {
  const { maintained, fresh } = await bothCounts(s.t.db, campaignId);
  expect(maintained).toEqual(fresh);
  // What a user sees: stats from the counts equals stats from a full pass over the ledger
  // (--since before anything happened reads every row).
  const quick = await campaignStats(s.t.db, campaignId);
  const full = await campaignStats(s.t.db, campaignId, { since: new Date(0) });
  expect(ledgerFigures(quick)).toEqual(ledgerFigures(full));
  return fresh;
}

const ledgerFigures = (r: CampaignStats) => ({
  recipients: r.recipients, sent: r.sent, failed: r.failed, unknown: r.unknown, skipped: r.skipped, skippedBreakdown: r.skippedBreakdown,
  queued: r.queued, sending: r.sending, delivered: r.delivered, waves: r.waves,
});

const total = (c: Counts, status: string) => Object.entries(c).filter(([k]) => k.endsWith(` ${status}`)).reduce((n, [, v]) => n + v.deliveries, 0);

describe('the ledger counts behind stats', { timeout: 180_000 }, () => {
  it('stay exact through enqueue, throttled and refused sends, suppression of queued rows, and forget', async () => {
    await seed(240);
    const repo = makeCampaignRepo();
    writeFileSync(path.join(repo.dir, 'campaigns', 'later.yaml'), campaignYaml({ id: 8, at: '2030-01-01 08:00' }));
    s.proxy.faults = { throttle: 0.2, refuseRecipient: { to: 'user5@example.com', status: 500, times: 2 } };
    const sent = await runLong(['send', repo.campaignFile, '--json', '--rate', '500'], { cwd: repo.dir, env: env() });
    expect(sent.code, sent.stderr).toBe(0);
    expect(s.proxy.answered.throttled).toBeGreaterThan(0);
    const afterSend = await expectExact(7);
    expect(total(afterSend, 'sent')).toBe(240);

    // A second campaign stays queued (its waves are years away); some of it is refused by SES
    // for good once sent, and people unsubscribe before their wave.
    const later = await runLong(['send', path.join(repo.dir, 'campaigns', 'later.yaml'), '--json'], { cwd: repo.dir, env: env() });
    expect(later.code, later.stderr).toBe(0);
    expect(total(await expectExact(8), 'queued')).toBe(240);
    const ids = (await sql<{ sid: string }>`SELECT id::text AS sid FROM subscribers ORDER BY id LIMIT 30`.execute(s.t.db)).rows;
    await suppress(s.t.db, ids.map((r) => ({ reason: 'unsubscribed' as const, subscriberId: r.sid })));
    const suppressed = await expectExact(8);
    expect(total(suppressed, 'skipped')).toBe(30);
    expect((await campaignStats(s.t.db, 8)).skippedBreakdown).toEqual({ late: 0, suppressed: 30 });

    // Forget: a queued row is skipped, a suppressed one loses its reason, a sent one keeps its status.
    const forgotten = await runCli(['subscribers', 'forget', 'user1@example.com', 'user100@example.com', '--json'], { cwd: repo.dir, env: env() });
    expect(forgotten.code, forgotten.stderr).toBe(0);
    await expectExact(7);
    const afterForget = await expectExact(8);
    expect(total(afterForget, 'skipped')).toBe(31);

    // `stats` without an id lists the same figures.
    const list = await listCampaignStats(s.t.db);
    const seven = list.campaigns.find((c) => c.campaign === 7)!;
    const stats7 = await campaignStats(s.t.db, 7);
    expect({ recipients: seven.recipients, sent: seven.sent }).toEqual({ recipients: stats7.recipients, sent: stats7.sent });
  });

  it('stay exact, at every instant, with a worker killed mid-send and three dispatchers at once, then as SES events settle the unknown', async () => {
    await seed(1500);
    const repo = makeCampaignRepo();
    const child = track(spawn(process.execPath, [BIN, 'send', repo.campaignFile, '--rate', '300', '--concurrency', '8'], { cwd: repo.dir, env: cleanEnv(env()), stdio: 'ignore' }));
    const exited = new Promise((r) => child.once('exit', r));
    while (s.proxy.answered.forwarded < 300) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGKILL');
    await exited;
    const atKill = await expectExact(7);
    expect(total(atKill, 'sending')).toBeGreaterThan(0);

    s.proxy.faults = { throttle: 0.1 };
    const workers = [1, 2, 3].map(() => runLong(['dispatch', '--campaign', '7', '--wait', '--json', '--rate', '400'], { cwd: repo.dir, env: env() }));
    let done = false;
    const all = Promise.all(workers).finally(() => { done = true; });
    let checks = 0;
    while (!done) {
      const { maintained, fresh } = await bothCounts(s.t.db, 7);
      expect(maintained).toEqual(fresh);
      checks += 1;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const w of await all) expect(w.code, w.stderr).toBe(0);
    expect(checks).toBeGreaterThan(3);
    const finished = await expectExact(7);
    expect(total(finished, 'sent') + total(finished, 'unknown')).toBe(1500);

    // Rows the killed worker may have sent are unknown until SES's events settle them: a Send
    // event makes one sent, a Reject failed.
    const unknown = (await sql<{ id: string; email: string }>`
      SELECT d.id::text AS id, s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id
      WHERE d.status = 'unknown' ORDER BY d.id`.execute(s.t.db)).rows;
    if (unknown.length === 0) {
      // The kill landed between requests: make one row unknown the way lease recovery would.
      const row = (await sql<{ id: string; email: string }>`
        UPDATE deliveries d SET status = 'unknown', message_id = NULL FROM subscribers s
        WHERE s.id = d.subscriber_id AND d.id = (SELECT min(id) FROM deliveries) RETURNING d.id::text AS id, s.email`.execute(s.t.db)).rows;
      unknown.push(...row);
      await expectExact(7);
    }
    const at = new Date().toISOString();
    const records = unknown.map((u, i) => {
      const m = { messageId: `settle-${u.id}`, to: u.email, at, deliveryId: u.id, campaignId: 7 };
      return i % 2 === 0 ? publish.send(m) : publish.reject(m);
    });
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'marketer-settle-')), 'events.jsonl');
    writeFileSync(file, jsonl(records));
    const ingested = await runCli(['events', 'ingest', file, '--json'], { cwd: repo.dir, env: env() });
    expect(ingested.code, ingested.stderr).toBe(0);
    const settled = await expectExact(7);
    expect(total(settled, 'unknown')).toBe(0);
    expect(total(settled, 'failed')).toBe(Math.floor(unknown.length / 2));
  });

  it('are built from a ledger written before them, rebuilt by events recount, and survive concurrent folds', async () => {
    await seed(300);
    await sql`INSERT INTO campaigns (id, name, file, content_hash, status) VALUES (5, 'Old', 'campaigns/old.yaml', 'x', 'done')`.execute(s.t.db);
    // A database from before the counts: no triggers, no table, no note that they were built.
    await sql`DROP TRIGGER deliveries_count_inserted ON deliveries; DROP TRIGGER deliveries_count_updated ON deliveries;
              DROP TRIGGER deliveries_count_deleted ON deliveries; DROP TRIGGER deliveries_count_truncated ON deliveries;
              DROP TABLE campaign_ledger_counts; DELETE FROM marketer_meta WHERE key = 'ledger_counts'`.execute(s.t.db);
    await sql`INSERT INTO deliveries (campaign_id, subscriber_id, due_at, timezone, status, error)
              SELECT 5, id, now() - (id % 3) * interval '1 hour', timezone,
                (ARRAY['sent', 'sent', 'failed', 'skipped', 'queued'])[1 + id % 5],
                CASE WHEN id % 5 = 3 AND id % 2 = 0 THEN 'suppressed' END
              FROM subscribers`.execute(s.t.db);
    await migrate(s.t.db, { force: true });
    const built = await expectExact(5);
    expect(total(built, 'sent')).toBe(120);
    const rows = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM campaign_ledger_counts`.execute(s.t.db)).rows[0]!.n;
    const once = await rows();
    await migrate(s.t.db, { force: true });
    expect(await rows()).toBe(once);
    await expectExact(5);

    // Counts written around the triggers are put right by a recount.
    await sql`UPDATE campaign_ledger_counts SET deliveries = deliveries + 7`.execute(s.t.db);
    expect((await bothCounts(s.t.db, 5)).maintained).not.toEqual((await bothCounts(s.t.db, 5)).fresh);
    const recount = await runCli(['events', 'recount', '5', '--json'], { env: { DATABASE_URL: s.t.url } });
    expect(recount.code, recount.stderr).toBe(0);
    await expectExact(5);

    // Four connections move rows between statuses and fold the counts at the same time.
    const pool = new pg.Pool({ connectionString: s.t.url, max: 4 });
    try {
      await Promise.all([0, 1, 2, 3].map(async (k) => {
        const c = await pool.connect();
        try {
          for (let i = 0; i < 25; i++) {
            await c.query('BEGIN');
            await c.query(`UPDATE deliveries SET status = (ARRAY['queued','sending','sent','failed','unknown'])[1 + (id + $1::int) % 5]
                           WHERE campaign_id = 5 AND id % 4 = $2::int AND status <> 'skipped' AND id % 7 = $3::int`, [i, k, i % 7]);
            await c.query('SELECT marketer_compact_ledger_counts(5)');
            await c.query('COMMIT');
          }
        } finally {
          c.release();
        }
      }));
    } finally {
      await pool.end();
    }
    await expectExact(5);
    await sql`SELECT marketer_compact_ledger_counts(5)`.execute(s.t.db);
    const groups = (await sql<{ n: number; groups: number }>`
      SELECT count(*)::int AS n, count(DISTINCT (timezone, status))::int AS groups FROM campaign_ledger_counts WHERE campaign_id = 5`.execute(s.t.db)).rows[0]!;
    expect(groups.n).toBe(groups.groups);
    await expectExact(5);

    await sql`TRUNCATE deliveries`.execute(s.t.db);
    expect(await rows()).toBe(0);
  });
});
