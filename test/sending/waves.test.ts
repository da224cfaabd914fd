import { sql } from 'kysely';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileCampaign, loadCampaign } from '../../src/campaigns/index.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { dispatch } from '../../src/sending/dispatch.js';
import { enqueueDeliveries, recordCampaign } from '../../src/sending/enqueue.js';
import { SesMailer } from '../../src/sending/ses-mailer.js';
import type { Clock } from '../../src/sending/clock.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { sesEnv, startSesEmulator, startSesProxy, type SesEmulator, type SesProxy } from '../helpers/ses.js';

// 2026-03-08 is the day North America springs forward (02:00 local), so New York, St John's and
// Los Angeles are already on summer time at 08:00 while Europe is not yet.
const ZONES = [
  'Asia/Kathmandu', 'Pacific/Chatham', 'America/St_Johns', 'America/New_York', 'America/Los_Angeles',
  'Europe/Berlin', 'Asia/Tokyo', 'UTC', 'Australia/Adelaide', 'Asia/Kolkata',
];
const AT = '2026-03-08 08:00';
const N = 2000;

let t: TestDb;
let ses: SesEmulator;
let proxy: SesProxy;
let config: Config;

beforeAll(async () => {
  t = await createTestDb();
  ses = await startSesEmulator();
  proxy = await startSesProxy(ses.endpoint);
  process.env.AWS_ACCESS_KEY_ID = 'AKIDLOCAL';
  process.env.AWS_SECRET_ACCESS_KEY = 'local-secret';
  const repo = makeCampaignRepo({ at: AT, timezone: 'subscriber' });
  config = loadConfig({ cwd: repo.dir, env: { ...sesEnv(proxy.endpoint), DATABASE_URL: t.url } });
  await sql`
    INSERT INTO subscribers (email, first_name, timezone, tags)
    SELECT 'user' || i || '@example.com', 'User' || i, (${ZONES}::text[])[1 + i % ${ZONES.length}], '{newsletter}'
    FROM generate_series(0, ${N - 1}) i`.execute(t.db);
  await sql`INSERT INTO subscribers (email, timezone, tags) SELECT 'other' || i || '@example.com', 'UTC', '{other}' FROM generate_series(1, 20) i`.execute(t.db);
});
afterAll(async () => {
  await proxy?.stop();
  await ses?.stop();
  await t?.close();
});

describe('timezone waves', () => {
  it('sends each subscriber once, at 08:00 in their own zone, with headers and tags', async () => {
    const campaign = await loadCampaign(`${config.root}/campaigns/c.yaml`, config);
    const compiled = await compileCampaign(campaign, config);
    await recordCampaign(t.db, campaign);
    expect(await enqueueDeliveries(t.db, campaign, new Date('2026-03-01T00:00:00Z'))).toBe(N);
    // Enqueue is idempotent.
    expect(await enqueueDeliveries(t.db, campaign, new Date('2026-03-01T00:00:00Z'))).toBe(0);

    const expected = new Map(ZONES.map((z) => [z, DateTime.fromFormat(AT, 'yyyy-MM-dd HH:mm', { zone: z }).toUTC().toJSDate()]));
    expect(expected.get('Asia/Kathmandu')?.toISOString()).toBe('2026-03-08T02:15:00.000Z');
    expect(expected.get('Pacific/Chatham')?.toISOString()).toBe('2026-03-07T18:15:00.000Z');
    expect(expected.get('America/St_Johns')?.toISOString()).toBe('2026-03-08T10:30:00.000Z');
    expect(expected.get('America/New_York')?.toISOString()).toBe('2026-03-08T12:00:00.000Z');

    let now = new Date('2026-03-07T00:00:00Z');
    const clock: Clock = { now: () => now, sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 10))) };
    const mailer = new SesMailer({ region: 'us-east-1', endpoint: proxy.endpoint, configurationSet: 'marketing', maxSockets: 16 });
    const run = () => dispatch({ db: t.db, mailer, config, clock, compile: async () => compiled }, { worker: 'wave-test', concurrency: 16, rate: 5000, wait: false });

    const fireTimes = [...new Set([...expected.values()].map((d) => d.getTime()))].sort((a, b) => a - b);
    let sentSoFar = 0;
    for (const fire of fireTimes) {
      now = new Date(fire - 1000);
      expect((await run()).sent).toBe(0);
      now = new Date(fire);
      const zonesNow = ZONES.filter((z) => expected.get(z)!.getTime() === fire);
      const result = await run();
      expect(result.sent).toBe(zonesNow.length * (N / ZONES.length));
      sentSoFar += result.sent;
    }
    expect(sentSoFar).toBe(N);
    await mailer.close();

    // Every delivery went out at its zone's instant.
    const rows = await sql<{ timezone: string; sent_at: Date; due_at: Date; status: string; n: number }>`
      SELECT d.timezone, d.sent_at, d.due_at, d.status, count(*)::int AS n FROM deliveries d GROUP BY 1, 2, 3, 4`.execute(t.db);
    expect(rows.rows).toHaveLength(ZONES.length);
    for (const r of rows.rows) {
      expect(r.status).toBe('sent');
      expect(r.due_at.toISOString()).toBe(expected.get(r.timezone)!.toISOString());
      expect(r.sent_at.toISOString()).toBe(expected.get(r.timezone)!.toISOString());
      expect(r.n).toBe(N / ZONES.length);
    }
    expect((await t.db.selectFrom('campaigns').select('status').executeTakeFirstOrThrow()).status).toBe('done');

    // The emulator holds each subscriber exactly once, with the RFC 8058 headers.
    const store = await ses.store();
    const to = store.map((e) => e.destination.to[0]);
    expect(to).toHaveLength(N);
    expect(new Set(to).size).toBe(N);
    for (const e of store.slice(0, 50)) {
      const h = Object.fromEntries((e.headers ?? []).map((x) => [x.name, x.value]));
      expect(h['List-Unsubscribe']).toMatch(/^<https:\/\/mail\.example\.com\/u\/\d+\.7\.[A-Za-z0-9_-]{22}>$/);
      expect(h['List-Unsubscribe']).not.toContain('@');
      expect(h['List-Unsubscribe-Post']).toBe('List-Unsubscribe=One-Click');
      expect(e.body.text).toContain('https://mail.example.com/u/');
    }
    // Tags carry campaign and delivery ids that match the ledger.
    const ledger = new Map((await t.db.selectFrom('deliveries').innerJoin('subscribers', 'subscribers.id', 'deliveries.subscriber_id')
      .select(['deliveries.id', 'subscribers.email']).execute()).map((r) => [r.email, r.id]));
    for (const req of proxy.requests) {
      const tags = Object.fromEntries((req.EmailTags ?? []).map((x) => [x.Name, x.Value]));
      expect(tags.campaign).toBe('7');
      expect(tags.delivery).toBe(ledger.get(req.Destination.ToAddresses[0]!));
      expect(req.ConfigurationSetName).toBe('marketing');
    }
  });
});
