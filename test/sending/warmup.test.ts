import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { compileCampaign, loadCampaign } from '../../src/campaigns/index.js';
import { loadConfig } from '../../src/config/config.js';
import type { Clock } from '../../src/sending/clock.js';
import { dispatch } from '../../src/sending/dispatch.js';
import { enqueueDeliveries, recordCampaign } from '../../src/sending/enqueue.js';
import { dailyCap, spillOverDays } from '../../src/sending/policy/warmup-cap.js';
import { SesMailer } from '../../src/sending/ses-mailer.js';
import { readFileSync } from 'node:fs';
import { runCli } from '../helpers/cli.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';

const s = useSendingStack();
const schedule = { start: 100, target: 400, days: 2, since: '2026-12-01' };

describe('warm-up: the daily cap', () => {
  it('grows geometrically from start on the first day to target on day `days`, and stays there', () => {
    expect(dailyCap(schedule, '2026-11-30')).toBe(100);
    expect(dailyCap(schedule, '2026-12-01')).toBe(100);
    expect(dailyCap(schedule, '2026-12-02')).toBe(200);
    expect(dailyCap(schedule, '2026-12-03')).toBe(400);
    expect(dailyCap(schedule, '2027-01-01')).toBe(400);
    const advice = { start: 500, target: 20_000, days: 14, since: '2026-12-01' };
    const caps = Array.from({ length: 15 }, (_, i) => dailyCap(advice, `2026-12-${String(i + 1).padStart(2, '0')}`));
    expect(caps[0]).toBe(500);
    expect(caps[14]).toBe(20_000);
    for (let i = 1; i < caps.length; i++) expect(caps[i]!).toBeGreaterThan(caps[i - 1]!);
  });

  it('spills waves over the days the cap allows (what plan shows)', () => {
    const waves = [
      { fireAt: new Date('2026-12-01T08:00:00Z'), count: 150 },
      { fireAt: new Date('2026-12-01T20:00:00Z'), count: 300 },
    ];
    expect(spillOverDays(waves, schedule, new Date('2026-12-01T06:00:00Z'), 30)).toEqual([
      { day: '2026-12-01', cap: 100, sends: 70 },
      { day: '2026-12-02', cap: 200, sends: 200 },
      { day: '2026-12-03', cap: 400, sends: 180 },
    ]);
  });
});

describe('warm-up during sends (injected clock)', () => {
  it('sends no more than each day\'s cap across campaigns and workers; the rest waits for the next day', async () => {
    await sql`INSERT INTO subscribers (email, timezone, tags) SELECT 'user' || i || '@example.com', 'UTC', '{newsletter}' FROM generate_series(1, 500) i`.execute(s.t.db);
    const repo = makeCampaignRepo({ at: '2026-12-01 08:00', timezone: 'UTC' });
    const config = loadConfig({
      cwd: repo.dir,
      env: {
        ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url,
        MARKETER_WARMUP_START: '100', MARKETER_WARMUP_TARGET: '400', MARKETER_WARMUP_DAYS: '2', MARKETER_WARMUP_SINCE: '2026-12-01',
      },
    });
    expect(config.warmup).toEqual(schedule);
    const campaign = await loadCampaign(`${config.root}/campaigns/c.yaml`, config);
    const compiled = await compileCampaign(campaign, config);
    await recordCampaign(s.t.db, campaign);
    expect(await enqueueDeliveries(s.t.db, campaign, new Date('2026-11-30T00:00:00Z'))).toBe(500);

    let now = new Date('2026-12-01T09:00:00Z');
    const clock: Clock = { now: () => now, sleep: (ms) => new Promise((r) => setTimeout(r, Math.min(ms, 10))) };
    process.env.AWS_ACCESS_KEY_ID = 'AKIDLOCAL';
    process.env.AWS_SECRET_ACCESS_KEY = 'local-secret';
    const mailer = new SesMailer({ region: 'us-east-1', endpoint: s.proxy.endpoint, configurationSet: undefined, maxSockets: 8 });
    const run = (worker: string) => dispatch({ db: s.t.db, mailer, config, clock, compile: async () => compiled }, { worker, concurrency: 8, rate: 5000, wait: false, batchSize: 30 });
    try {
      // Day 1: three workers at once share the cap of 100.
      const day1 = await Promise.all(['a', 'b', 'c'].map(run));
      expect(day1.reduce((n, r) => n + r.sent, 0), JSON.stringify(day1)).toBe(100);
      expect(day1.map((r) => r.warmup?.capped)).toEqual([true, true, true]);
      expect(day1[0]!.warmup).toMatchObject({ day: '2026-12-01', cap: 100, used: 100, heldBack: 400 });
      // Later that day: nothing more.
      now = new Date('2026-12-01T23:59:00Z');
      expect((await run('a')).sent).toBe(0);
      // Day 2: 200; day 3: the rest.
      now = new Date('2026-12-02T00:00:01Z');
      expect((await run('a')).sent).toBe(200);
      now = new Date('2026-12-03T10:00:00Z');
      const last = await run('b');
      expect(last.sent).toBe(200);
      expect(last.warmup).toMatchObject({ day: '2026-12-03', cap: 400, used: 200, capped: false, heldBack: 0 });
    } finally {
      await mailer.close();
    }
    const { rows } = await sql<{ day: string; cap: number; used: number }>`SELECT to_char(day, 'YYYY-MM-DD') AS day, cap, used FROM warmup_days ORDER BY day`.execute(s.t.db);
    expect(rows).toEqual([{ day: '2026-12-01', cap: 100, used: 100 }, { day: '2026-12-02', cap: 200, used: 200 }, { day: '2026-12-03', cap: 400, used: 200 }]);
    const sent = new Set((await s.ses.store()).map((e) => e.destination.to[0]));
    expect(sent.size).toBe(500);
    expect((await s.t.db.selectFrom('campaigns').select('status').executeTakeFirstOrThrow()).status).toBe('done');
  });
});

describe('warm-up in plan, send, stats and the step summary', () => {
  it('plan shows the spill over days; send stops at the cap and says so; stats says the cap holds the campaign back', { timeout: 300_000 }, async () => {
    await sql`TRUNCATE subscribers, campaigns, deliveries, warmup_days RESTART IDENTITY CASCADE`.execute(s.t.db);
    await s.ses.clear();
    await sql`INSERT INTO subscribers (email, timezone, tags) SELECT 'user' || i || '@example.com', 'UTC', '{newsletter}' FROM generate_series(1, 450) i`.execute(s.t.db);
    const { dir, campaignFile } = makeCampaignRepo();
    const day = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
    const env = {
      ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url,
      MARKETER_WARMUP_START: '100', MARKETER_WARMUP_TARGET: '400', MARKETER_WARMUP_DAYS: '2', MARKETER_WARMUP_SINCE: day(0),
    };
    const plan = await runCli(['plan', campaignFile, '--json'], { cwd: dir, env });
    expect(plan.code, plan.stderr).toBe(0);
    const doc = JSON.parse(plan.stdout);
    expect((doc.campaigns?.[0] ?? doc).warmup).toEqual([
      { day: day(0), cap: 100, sends: 100 }, { day: day(1), cap: 200, sends: 200 }, { day: day(2), cap: 400, sends: 150 },
    ]);
    const human = await runCli(['plan', campaignFile], { cwd: dir, env });
    expect(human.stdout).toContain('Warm-up cap: the waves spill over 3 days');

    const summary = `${dir}/summary.md`;
    const sent = await runCli(['send', campaignFile, '--summary', summary], { cwd: dir, env, timeoutMs: 240_000 });
    expect(sent.code, sent.stderr).toBe(0);
    const held = `Warm-up cap reached for ${day(0)} (100 of 100 a day, all campaigns together): 350 due deliveries wait for tomorrow (UTC); "marketer dispatch" then sends them.`;
    expect(sent.stdout).toContain(held);
    expect(readFileSync(summary, 'utf8')).toContain('⏳ Campaign 7: Warm-up cap reached');
    expect(await s.ses.store()).toHaveLength(100);

    const stats = await runCli(['stats', '7', '--json'], { cwd: dir, env });
    expect(JSON.parse(stats.stdout).heldByWarmup).toEqual({ day: day(0), cap: 100, used: 100, due: 350 });
    const statsText = await runCli(['stats', '7'], { cwd: dir, env });
    expect(statsText.stdout).toContain(`Held back by the warm-up cap: 350 due deliveries wait for tomorrow (100 of 100 sent on ${day(0)}, all campaigns together).`);
  });
});
