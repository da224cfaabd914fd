import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { campaignYaml, MARKETING_ENV, project, TEMPLATE } from '../campaigns/fixtures.js';

let t: TestDb;

beforeAll(async () => {
  t = await createTestDb();
  // 40 newsletter readers: every 4th churned, plans round-robin pro/team/free/none, seats 0..9,
  // a third in Europe; 5 others without the tag; one unsubscribed pro (never counted).
  await sql`INSERT INTO subscribers (email, timezone, tags, attributes)
    SELECT 'n' || i || '@example.com', CASE WHEN i % 3 = 0 THEN 'Europe/Berlin' ELSE 'America/Chicago' END,
           CASE WHEN i % 4 = 0 THEN '{newsletter,churned}'::text[] ELSE '{newsletter}'::text[] END,
           jsonb_strip_nulls(jsonb_build_object('plan', (ARRAY['pro', 'team', 'free', NULL])[1 + i % 4], 'seats', (i % 10)::text))
    FROM generate_series(1, 40) i`.execute(t.db);
  await sql`INSERT INTO subscribers (email, tags) SELECT 'o' || i || '@example.com', '{other}' FROM generate_series(1, 5) i`.execute(t.db);
  await sql`INSERT INTO subscribers (email, timezone, tags, attributes, status) VALUES ('gone@example.com', 'Europe/Berlin', '{newsletter}', '{"plan":"pro","seats":"9"}', 'unsubscribed')`.execute(t.db);
});
afterAll(async () => {
  await t?.close();
});

const AUDIENCE = `audience:
  segment: pro-users
  exclude_tags: [churned]
  where:
    - { field: timezone, starts_with: "Europe/" }
`;
const SEGMENT = 'tags: [newsletter]\nwhere:\n  - { attribute: plan, in: [pro, team] }\n  - { attribute: seats, gte: 3 }\n';

/** What SQL says each step should leave, counted independently of marketer. */
async function expected(): Promise<number[]> {
  const steps = [
    sql`tags && '{newsletter}'`,
    sql`attributes->>'plan' IN ('pro', 'team')`,
    sql`(attributes->>'seats')::int >= 3`,
    sql`NOT tags && '{churned}'`,
    sql`timezone LIKE 'Europe/%'`,
  ];
  const left: number[] = [];
  for (let i = 1; i <= steps.length; i++) {
    const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM subscribers WHERE status = 'active' AND ${sql.join(steps.slice(0, i), sql` AND `)}`.execute(t.db);
    left.push(r.rows[0]!.n);
  }
  return left;
}

describe('plan explains the audience', () => {
  it('lists each condition with how many it removed and the audience that is left (--json)', async () => {
    const dir = project({ 'templates/t.mjml': TEMPLATE, 'campaigns/c.yaml': campaignYaml(AUDIENCE), 'segments/pro-users.yaml': SEGMENT });
    const summary = path.join(dir, 'summary.md');
    const r = await runCli(['plan', path.join(dir, 'campaigns/c.yaml'), '--json', '--summary', summary], { cwd: dir, env: { ...MARKETING_ENV, MARKETER_TRANSPORT: 'outbox', DATABASE_URL: t.url } });
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout);
    const left = await expected();
    expect(left.at(-1)).toBeGreaterThan(0);
    expect(plan.audience).toBe(left.at(-1));
    expect(plan.conditions).toEqual([
      { condition: 'tags any of [newsletter]', segment: 'pro-users', removed: 45 - left[0]!, remaining: left[0] },
      { condition: 'attribute plan in [pro, team]', segment: 'pro-users', removed: left[0]! - left[1]!, remaining: left[1] },
      { condition: 'attribute seats gte 3', segment: 'pro-users', removed: left[1]! - left[2]!, remaining: left[2] },
      { condition: 'exclude_tags [churned]', removed: left[2]! - left[3]!, remaining: left[3] },
      { condition: 'timezone starts_with Europe/', removed: left[3]! - left[4]!, remaining: left[4] },
    ]);
    // The pull request's summary has the same rows.
    expect(readFileSync(summary, 'utf8')).toContain(`| ${left[0]! - left[1]!} | ${left[1]} | pro-users: attribute plan in \\[pro, team\\] |`);
    expect(plan.excluded).toMatchObject({ not_matching: 46 - left.at(-1)! - 1, unsubscribed: 1, sunset: 0 });
  });

  it('shows the same in text within 80 columns', async () => {
    const dir = project({ 'templates/t.mjml': TEMPLATE, 'campaigns/c.yaml': campaignYaml(AUDIENCE.replace('starts_with: "Europe/" }', 'starts_with: "Europe/" }\n    - any:\n        - { attribute: plan, eq: pro }\n        - { attribute: seats, in: [3, 4, 5, 6, 7, 8, 9] }\n        - { field: created_at, within: 3650d }')), 'segments/pro-users.yaml': SEGMENT });
    const r = await runCli(['plan', path.join(dir, 'campaigns/c.yaml')], { cwd: dir, env: { ...MARKETING_ENV, MARKETER_TRANSPORT: 'outbox', DATABASE_URL: t.url, COLUMNS: '80' } });
    expect(r.code, r.stderr).toBe(0);
    const left = await expected();
    expect(r.stdout).toContain(`Audience: ${left.at(-1)} subscribers`);
    expect(r.stdout).toMatch(new RegExp(`\\n\\s+${left[0]! - left[1]!} pro-users: attribute plan in \\[pro, team\\]\\n`));
    expect(r.stdout).toMatch(/\n\s+0 any of \(attribute plan eq pro; attribute seats in \[3, 4, 5, 6, 7,/);
    for (const line of r.stdout.split('\n')) expect(line.length, line).toBeLessThanOrEqual(80);
  });
});
