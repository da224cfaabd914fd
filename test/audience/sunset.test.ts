import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { campaignYaml, MARKETING_ENV, project, TEMPLATE } from '../campaigns/fixtures.js';

let t: TestDb;

/**
 * Who received what in the last 180 days, as the ledger says (campaigns 1–3, all sent):
 * quiet: 3 sent, never opened or clicked → sunset; clicker: the same with one click; opener: one
 * open; newcomer: only 2 sent; lapsed: 3 sent 200 days ago (outside the period).
 */
beforeAll(async () => {
  t = await createTestDb();
  for (const name of ['quiet', 'clicker', 'opener', 'newcomer', 'lapsed']) {
    await sql`INSERT INTO subscribers (email, tags) VALUES (${`${name}@example.com`}, '{newsletter}')`.execute(t.db);
  }
  const deliver = (name: string, campaign: number, daysAgo: number, engaged?: 'opened_at' | 'clicked_at') => sql`
    INSERT INTO deliveries (campaign_id, subscriber_id, due_at, timezone, status, sent_at, opened_at, clicked_at)
    SELECT ${campaign}, id, now(), 'UTC', 'sent', now() - make_interval(days => ${daysAgo}::int),
           ${engaged === 'opened_at' ? sql`now() - interval '1 day'` : sql`NULL`}, ${engaged === 'clicked_at' ? sql`now() - interval '1 day'` : sql`NULL`}
    FROM subscribers WHERE email = ${`${name}@example.com`}`.execute(t.db);
  for (const c of [1, 2, 3]) {
    await deliver('quiet', c, 10 * c);
    await deliver('clicker', c, 10 * c, c === 3 ? 'clicked_at' : undefined);
    await deliver('opener', c, 10 * c, c === 1 ? 'opened_at' : undefined);
    if (c < 3) await deliver('newcomer', c, 10 * c);
    await deliver('lapsed', c, 200 + c);
  }
});
afterAll(async () => {
  await t?.close();
});

const CONFIG = 'sunset_after: 180d\nsunset_min_campaigns: 3\n';

function repo(extra: string, config = CONFIG): { dir: string; file: string } {
  const dir = project({ 'marketer.yaml': config, 'templates/t.mjml': TEMPLATE, 'campaigns/c.yaml': campaignYaml(extra).replace('id: 7', 'id: 70') });
  return { dir, file: path.join(dir, 'campaigns/c.yaml') };
}

const env = () => ({ ...MARKETING_ENV, MARKETER_TRANSPORT: 'outbox', DATABASE_URL: t.url });

async function recipients(campaign: number): Promise<string[]> {
  const r = await sql<{ email: string }>`SELECT s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.campaign_id = ${campaign} ORDER BY s.email`.execute(t.db);
  return r.rows.map((row) => row.email.split('@')[0]!);
}

describe('sunsetting', () => {
  it('plan counts who received sunset_min_campaigns without an open or click; one click or open keeps a person', async () => {
    const { dir, file } = repo('audience: { tags: [newsletter] }\n');
    const r = await runCli(['plan', file, '--json'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan.audience).toBe(4);
    expect(plan.excluded.sunset).toBe(1);
    expect(plan.conditions).toEqual([
      { condition: 'tags any of [newsletter]', removed: 0, remaining: 5 },
      { condition: 'sunset_after 180d (3 campaigns)', removed: 1, remaining: 4 },
    ]);
    const text = await runCli(['plan', file], { cwd: dir, env: { ...env(), COLUMNS: '80' } });
    expect(text.stdout).toContain('1 sunset');
  });

  it('send skips the sunset subscriber and stats counts them', async () => {
    const { dir, file } = repo('audience: { tags: [newsletter] }\n');
    const sent = await runCli(['send', file, '--now', '--json'], { cwd: dir, env: env() });
    expect(sent.code, sent.stderr).toBe(0);
    expect(await recipients(70)).toEqual(['clicker', 'lapsed', 'newcomer', 'opener']);
    const stats = await runCli(['stats', '70', '--json'], { cwd: dir, env: env() });
    expect(stats.code, stats.stderr).toBe(0);
    const doc = JSON.parse(stats.stdout);
    expect(doc.sunset).toBe(1);
    expect(doc.recipients).toBe(4);
    expect(doc.skipped).toBe(0);
    const shown = await runCli(['stats', '70'], { cwd: dir, env: env() });
    expect(shown.stdout).toMatch(/Sunset\s+1/);
  });

  it('does not apply to transactional campaigns or to a campaign that turns it off', async () => {
    const transactional = repo('audience: { tags: [newsletter] }\ntransactional: true\n');
    const a = JSON.parse((await runCli(['plan', transactional.file, '--json'], { cwd: transactional.dir, env: env() })).stdout);
    expect(a).toMatchObject({ audience: 5, excluded: { sunset: 0 } });
    const off = repo('audience: { tags: [newsletter], sunset_after: off }\n');
    const b = JSON.parse((await runCli(['plan', off.file, '--json'], { cwd: off.dir, env: env() })).stdout);
    expect(b).toMatchObject({ audience: 5, excluded: { sunset: 0 } });
  });

  it('is off without the setting, and a campaign may set a period of its own', async () => {
    const unset = repo('audience: { tags: [newsletter] }\n', 'concurrency: 4\n');
    const c = JSON.parse((await runCli(['plan', unset.file, '--json'], { cwd: unset.dir, env: env() })).stdout);
    expect(c).toMatchObject({ audience: 5, excluded: { sunset: 0 } });
    // A shorter period of the campaign's own: quiet's first mail (10 days ago) is still inside 15d, the third (30 days) is not.
    const short = repo('audience: { tags: [newsletter], sunset_after: 15d }\n');
    const d = JSON.parse((await runCli(['plan', short.file, '--json'], { cwd: short.dir, env: env() })).stdout);
    expect(d).toMatchObject({ audience: 5, excluded: { sunset: 0 } });
  });

  it('rejects a bad period in marketer.yaml and in the campaign', async () => {
    const bad = repo('audience: { tags: [newsletter], sunset_after: soon }\n');
    const r = await runCli(['validate', bad.file], { cwd: bad.dir, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('campaigns/c.yaml:6:47: audience.sunset_after must be a duration such as 90d, 30d or 12h, got text "soon"');
    const config = repo('audience: { tags: [newsletter] }\n', 'sunset_after: half a year\n');
    const c = await runCli(['validate', config.file], { cwd: config.dir, env: env() });
    expect(c.code).toBe(2);
    expect(c.stderr).toContain('sunset_after: "half a year" is not a period (e.g. 180d, 90d, or off).');
  });
});
