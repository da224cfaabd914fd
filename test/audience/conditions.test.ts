import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCampaign } from '../../src/campaigns/index.js';
import { matchesAudience } from '../../src/sending/audience.js';
import { campaignYaml, configFor, MARKETING_ENV, project, TEMPLATE } from '../campaigns/fixtures.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

let t: TestDb;

/**
 * Five subscribers whose attributes are text, as import stores them: seats that are numbers,
 * padded numbers, decimals and words; dates with and without offsets, and one that is no date.
 */
beforeAll(async () => {
  t = await createTestDb();
  const rows: [string, string, string[], Record<string, string>, string, string | null][] = [
    ['a', 'Europe/Berlin', ['newsletter'], { plan: 'pro', seats: '7', renewal: '2026-03-01' }, '2026-02-01T00:00:00Z', 'Ada'],
    ['b', 'America/New_York', ['newsletter', 'beta'], { plan: 'team', seats: '3', renewal: '2026-03-01T00:30:00+01:00' }, '2025-06-01T12:00:00Z', 'Bob'],
    ['c', 'Europe/Paris', ['newsletter', 'churned'], { plan: 'free', seats: 'lots', renewal: 'soon' }, '2025-12-31T23:30:00Z', null],
    ['d', 'UTC', ['other'], { seats: '12.5', renewal: '2026-02-30' }, '2024-01-01T00:00:00Z', 'Ümit'],
    ['e', 'Europe/Lisbon', ['newsletter'], { plan: 'PRO', seats: ' 5 ', note: "it's 100% Done" }, '2026-01-15T00:00:00Z', 'Eve'],
  ];
  for (const [name, zone, tags, attributes, created, first] of rows) {
    await sql`INSERT INTO subscribers (email, timezone, tags, attributes, created_at, first_name)
      VALUES (${`${name}@example.com`}, ${zone}, ${tags}::text[], ${JSON.stringify(attributes)}::jsonb, ${created}::timestamptz, ${first})`.execute(t.db);
  }
});
afterAll(async () => {
  await t?.close();
});

async function load(audience: string) {
  const dir = project({ 'templates/t.mjml': TEMPLATE, 'campaigns/c.yaml': campaignYaml(`audience:\n${audience.replace(/^/gm, '  ')}\n`) });
  return loadCampaign(path.join(dir, 'campaigns/c.yaml'), configFor(dir, MARKETING_ENV));
}

/** Who the audience selects, by the local part of the address. */
async function who(audience: string): Promise<string[]> {
  const c = await load(audience);
  const r = await sql<{ email: string }>`SELECT email FROM subscribers s WHERE ${matchesAudience(c.audience)} ORDER BY email`.execute(t.db);
  return r.rows.map((row) => row.email.split('@')[0]!);
}

const where = (...conditions: string[]) => `where:\n${conditions.map((c) => `  - ${c}`).join('\n')}`;

describe('audience conditions against Postgres', () => {
  it('eq and ne compare text exactly; a missing attribute fails eq and passes ne', async () => {
    expect(await who(where('{ attribute: plan, eq: pro }'))).toEqual(['a']);
    expect(await who(where('{ attribute: plan, ne: pro }'))).toEqual(['b', 'c', 'd', 'e']);
    expect(await who(where('{ field: timezone, eq: UTC }'))).toEqual(['d']);
    expect(await who(where('{ field: first_name, ne: Ada }'))).toEqual(['b', 'c', 'd', 'e']);
  });

  it('in and not_in take lists of text or of numbers', async () => {
    expect(await who(where('{ attribute: plan, in: [pro, team] }'))).toEqual(['a', 'b']);
    expect(await who(where('{ attribute: plan, not_in: [pro, team] }'))).toEqual(['c', 'd', 'e']);
    expect(await who(where('{ attribute: seats, in: [3, 5] }'))).toEqual(['b', 'e']);
  });

  it('gt, gte, lt and lte compare numbers as numbers; words and missing values match none of them', async () => {
    // As text "12.5" < "3" < "7"; as numbers 3 < 5 < 7 < 12.5.
    expect(await who(where('{ attribute: seats, gte: 5 }'))).toEqual(['a', 'd', 'e']);
    expect(await who(where('{ attribute: seats, gt: 5 }'))).toEqual(['a', 'd']);
    expect(await who(where('{ attribute: seats, lt: 5 }'))).toEqual(['b']);
    expect(await who(where('{ attribute: seats, lte: 5 }'))).toEqual(['b', 'e']);
    expect(await who(where('{ attribute: seats, eq: 12.5 }'))).toEqual(['d']);
    // "lots" is neither above nor below anything; nobody has a "missing" attribute above 0.
    expect(await who(where('{ attribute: missing, gt: 0 }'))).toEqual([]);
    expect(await who(where('{ attribute: missing, lte: 0 }'))).toEqual([]);
    expect(await who(where('{ field: soft_bounces, lt: 1 }'))).toEqual(['a', 'b', 'c', 'd', 'e']);
  });

  it('exists is true for a non-empty value', async () => {
    expect(await who(where('{ attribute: plan, exists: true }'))).toEqual(['a', 'b', 'c', 'e']);
    expect(await who(where('{ attribute: plan, exists: false }'))).toEqual(['d']);
    expect(await who(where('{ field: first_name, exists: false }'))).toEqual(['c']);
  });

  it('starts_with is exact and treats % and _ as characters; contains ignores case', async () => {
    expect(await who(where('{ field: timezone, starts_with: "Europe/" }'))).toEqual(['a', 'c', 'e']);
    expect(await who(where('{ field: timezone, starts_with: "europe/" }'))).toEqual([]);
    expect(await who(where('{ field: timezone, starts_with: "%" }'))).toEqual([]);
    expect(await who(where('{ attribute: plan, contains: PR }'))).toEqual(['a', 'e']);
    expect(await who(where('{ attribute: note, contains: "100% done" }'))).toEqual(['e']);
    expect(await who(where('{ attribute: note, contains: "1_0" }'))).toEqual([]);
    expect(await who(where('{ field: first_name, contains: "üm" }'))).toEqual(['d']);
  });

  it('after and before read dates as UTC unless they carry an offset', async () => {
    // c joined 2025-12-31T23:30Z: before 2026-01-01 in UTC, after it in Berlin's +01:00.
    expect(await who(where('{ field: created_at, after: "2026-01-01" }'))).toEqual(['a', 'e']);
    expect(await who(where('{ field: created_at, after: "2026-01-01T00:00:00+01:00" }'))).toEqual(['a', 'c', 'e']);
    expect(await who(where('{ field: created_at, before: "2025-06-01 12:00" }'))).toEqual(['d']);
    // Attribute dates: "2026-03-01" is midnight UTC; "+01:00" puts b's half past midnight at 23:30 UTC the day before.
    expect(await who(where('{ attribute: renewal, after: "2026-02-28T23:59:00Z" }'))).toEqual(['a']);
    expect(await who(where('{ attribute: renewal, before: "2026-03-01" }'))).toEqual(['b']);
    // "soon", the 30th of February and a missing value are no dates: neither after nor before.
    expect(await who(where('{ attribute: renewal, after: "1900-01-01" }'))).toEqual(['a', 'b']);
  });

  it('within counts back from now', async () => {
    await sql`UPDATE subscribers SET created_at = now() - interval '10 days' WHERE email = 'b@example.com'`.execute(t.db);
    await sql`UPDATE subscribers SET attributes = attributes || jsonb_build_object('seen', to_char(now() - interval '2 hours', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) WHERE email = 'e@example.com'`.execute(t.db);
    try {
      expect(await who(where('{ field: created_at, within: 30d }'))).toEqual(['b']);
      expect(await who(where('{ field: created_at, within: 5d }'))).toEqual([]);
      expect(await who(where('{ attribute: seen, within: 3h }'))).toEqual(['e']);
      expect(await who(where('{ attribute: seen, within: 1h }'))).toEqual([]);
    } finally {
      await sql`UPDATE subscribers SET created_at = '2025-06-01T12:00:00Z' WHERE email = 'b@example.com'`.execute(t.db);
      await sql`UPDATE subscribers SET attributes = attributes - 'seen' WHERE email = 'e@example.com'`.execute(t.db);
    }
  });

  it('tags, exclude_tags and where all hold together; any: needs one, and groups nest', async () => {
    expect(await who('tags: [newsletter]\nexclude_tags: [churned]')).toEqual(['a', 'b', 'e']);
    expect(await who(`tags: [newsletter]\nexclude_tags: [churned]\n${where('{ attribute: seats, gte: 5 }')}`)).toEqual(['a', 'e']);
    expect(await who(where('any:\n      - { attribute: plan, eq: team }\n      - { field: timezone, eq: UTC }'))).toEqual(['b', 'd']);
    expect(await who(where(
      '{ field: timezone, starts_with: "Europe/" }',
      'any:\n      - { attribute: plan, eq: free }\n      - all:\n          - { attribute: seats, gt: 6 }\n          - { attribute: plan, eq: pro }',
    ))).toEqual(['a', 'c']);
  });

  it('SQL in values and attribute names is data', async () => {
    expect(await who(where(`{ attribute: "plan' OR '1'='1", eq: "x' OR '1'='1" }`))).toEqual([]);
    expect(await who(where(`{ attribute: plan, in: ["pro'); DELETE FROM subscribers; --"] }`))).toEqual([]);
    expect(await who(where(`{ attribute: "seats\\" ) OR true --", gte: 0 }`))).toEqual([]);
    expect(await who(where(`{ field: timezone, contains: "' OR 1=1 --" }`))).toEqual([]);
    const n = await sql<{ n: number }>`SELECT count(*)::int AS n FROM subscribers`.execute(t.db);
    expect(n.rows[0]!.n).toBe(5);
  });
});

describe('engagement and earlier campaigns', () => {
  it('engaged_within: opened or clicked a campaign in the period; exclude_campaigns: not those a campaign reached', async () => {
    const id = async (name: string) => (await sql<{ id: string }>`SELECT id FROM subscribers WHERE email = ${`${name}@example.com`}`.execute(t.db)).rows[0]!.id;
    await sql`INSERT INTO deliveries (campaign_id, subscriber_id, due_at, timezone, status, sent_at, opened_at, clicked_at) VALUES
      (41, ${await id('a')}, now(), 'UTC', 'sent', now() - interval '100 days', now() - interval '100 days', NULL),
      (41, ${await id('b')}, now(), 'UTC', 'sent', now() - interval '20 days', NULL, now() - interval '20 days'),
      (41, ${await id('c')}, now(), 'UTC', 'failed', NULL, NULL, NULL),
      (41, ${await id('d')}, now(), 'UTC', 'queued', NULL, NULL, NULL),
      (42, ${await id('e')}, now(), 'UTC', 'sent', now() - interval '1 day', now() - interval '1 hour', NULL)`.execute(t.db);
    try {
      expect(await who(where('{ engaged_within: 90d }'))).toEqual(['b', 'e']);
      expect(await who(where('{ engaged_within: 2h }'))).toEqual(['e']);
      expect(await who(where('{ engaged_within: 200d }'))).toEqual(['a', 'b', 'e']);
      // c's delivery failed, so c never got 41; d's is queued and will.
      expect(await who('exclude_campaigns: [41]')).toEqual(['c', 'e']);
      expect(await who('exclude_campaigns: [41, 42]')).toEqual(['c']);
      expect(await who(where('any:\n      - { engaged_within: 30d }\n      - { field: created_at, after: "2026-01-31" }'))).toEqual(['a', 'b', 'e']);
    } finally {
      await sql`DELETE FROM deliveries`.execute(t.db);
    }
  });
});
