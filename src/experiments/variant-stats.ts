import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import type { DecisionReason, VariantFigures } from './decide-winner.js';
import type { TestMetric } from './types.js';

/** A campaign's A/B test as the ledger holds it (`stats`, `send`, `plan`, the report). */
export interface TestState {
  variants: string[];
  /** The first variant: what the rest gets when the test cannot tell. */
  default: string;
  share: number;
  metric: TestMetric;
  decideAfterSeconds: number;
  winner: string | null;
  reason: DecisionReason | null;
  note: string | null;
  decidedAt: string | null;
  decidedBy: string | null;
  /** The figures the decision was made on. */
  figures: { variants: (VariantFigures & { rate: number | null })[]; z: number | null; p: number | null; significant: boolean } | null;
  /** Rest deliveries still waiting for the winner, and when the first of them comes due. */
  waiting: number;
  decideAt: string | null;
}

/** One variant's deliveries; `test` is its share of the test, the rest are winner deliveries. */
export interface VariantStats {
  name: string;
  default: boolean;
  winner: boolean;
  recipients: number;
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  bounced: number;
  rates: { open: number | null; click: number | null };
  test: { recipients: number; sent: number; delivered: number; opened: number; clicked: number; rates: { open: number | null; click: number | null } };
}

export async function testState(db: Kysely<Database>, campaignId: number): Promise<TestState | null> {
  const t = await db.selectFrom('campaign_tests').selectAll().where('campaign_id', '=', campaignId).executeTakeFirst();
  if (!t) return null;
  // Reads only the undecided-rest index, which is empty once the test is decided.
  const { rows } = await sql<{ n: number; first: Date | null }>`
    SELECT count(*)::int AS n, min(due_at) AS first FROM deliveries
    WHERE campaign_id = ${campaignId} AND in_test = false AND variant IS NULL`.execute(db);
  return {
    variants: t.variants,
    default: t.variants[0] ?? 'a',
    share: t.share,
    metric: t.metric,
    decideAfterSeconds: t.decide_after,
    winner: t.winner,
    reason: t.reason as DecisionReason | null,
    note: t.note,
    decidedAt: t.decided_at ? new Date(t.decided_at).toISOString() : null,
    decidedBy: t.decided_by,
    figures: (t.figures as TestState['figures']) ?? null,
    waiting: rows[0]?.n ?? 0,
    decideAt: rows[0]?.first ? new Date(rows[0].first).toISOString() : null,
  };
}

/** Per-variant figures, in the test's order of variants; empty for a campaign without a test. */
export async function variantStats(db: Kysely<Database>, campaignId: number, state?: TestState | null): Promise<VariantStats[]> {
  const t = state === undefined ? await testState(db, campaignId) : state;
  if (!t) return [];
  const { rows } = await sql<{ variant: string; in_test: boolean; recipients: number; sent: number; delivered: number; opened: number; clicked: number; bounced: number }>`
    SELECT variant, in_test, count(*)::int AS recipients, count(*) FILTER (WHERE status = 'sent')::int AS sent,
           count(delivered_at)::int AS delivered, count(opened_at)::int AS opened, count(clicked_at)::int AS clicked,
           count(bounced_at)::int AS bounced
    FROM deliveries WHERE campaign_id = ${campaignId} AND variant IS NOT NULL
    GROUP BY variant, in_test`.execute(db);
  const names = [...t.variants, ...rows.map((r) => r.variant).filter((v) => !t.variants.includes(v))];
  return [...new Set(names)].map((name) => {
    const mine = rows.filter((r) => r.variant === name);
    const sum = (rs: typeof rows, k: 'recipients' | 'sent' | 'delivered' | 'opened' | 'clicked' | 'bounced') => rs.reduce((a, r) => a + r[k], 0);
    const test = mine.filter((r) => r.in_test);
    const all = { recipients: sum(mine, 'recipients'), sent: sum(mine, 'sent'), delivered: sum(mine, 'delivered'), opened: sum(mine, 'opened'), clicked: sum(mine, 'clicked') };
    const inTest = { recipients: sum(test, 'recipients'), sent: sum(test, 'sent'), delivered: sum(test, 'delivered'), opened: sum(test, 'opened'), clicked: sum(test, 'clicked') };
    return {
      name,
      default: name === t.default,
      winner: name === t.winner,
      ...all,
      bounced: sum(mine, 'bounced'),
      rates: { open: rate(all.opened, all.delivered), click: rate(all.clicked, all.delivered) },
      test: { ...inTest, rates: { open: rate(inTest.opened, inTest.delivered), click: rate(inTest.clicked, inTest.delivered) } },
    };
  });
}

function rate(n: number, d: number): number | null {
  return d > 0 ? n / d : null;
}
