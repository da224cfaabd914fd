import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { CompiledCampaign } from '../campaigns/types.js';
import type { Database } from '../db/types.js';
import { positionExpression } from './assign-variants.js';
import type { TestMetric } from './types.js';

export interface PlanVariant {
  name: string;
  subject: string;
  /** Relative to the config root. */
  template: string;
  /** People in the test share who would get this variant now. */
  test_recipients: number;
}

/** What `plan` shows of an A/B test. */
export interface PlanTest {
  variants: PlanVariant[];
  default: string;
  share: number;
  metric: TestMetric;
  decide_after_seconds: number;
  test_recipients: number;
  rest_recipients: number;
  /** ISO-8601 UTC: when the first test mail goes out, and when the winner is chosen. */
  test_starts_at: string | null;
  decide_at: string | null;
  /** Set once the test has been decided (the ledger's decision). */
  winner: string | null;
  note: string | null;
}

/**
 * The test as `send` would run it now: the same positions enqueue computes, over the eligible
 * audience (`eligible` and `due` use alias `s`). Read-only.
 */
export async function planTest(db: Kysely<Database>, compiled: CompiledCampaign, now: Date, eligible: RawBuilder<boolean>, due: RawBuilder<Date>): Promise<PlanTest | null> {
  const c = compiled.campaign;
  const e = c.experiment;
  if (!e) return null;
  const names = e.variants.map((v) => v.name);
  const share = e.test.share;
  const { rows } = await sql<{ variant: string | null; n: number; wave: Date | null }>`
    SELECT CASE WHEN u < ${share}::double precision
             THEN (${names}::text[])[least(floor(u / ${share}::double precision * ${names.length})::int, ${names.length - 1}) + 1] END AS variant,
           count(*)::int AS n, min(due) AS wave
    FROM (SELECT ${positionExpression(c.id)} AS u, ${due} AS due FROM subscribers s WHERE ${eligible}) x
    GROUP BY 1`.execute(db);
  const decided = await db.selectFrom('campaign_tests').select(['winner', 'note']).where('campaign_id', '=', c.id).executeTakeFirst();
  const decideMs = e.test.decideAfterSeconds * 1000;
  const test = rows.filter((r) => r.variant !== null);
  const rest = rows.find((r) => r.variant === null);
  const firstWave = (rs: typeof rows) => rs.reduce<Date | null>((m, r) => (r.wave && (!m || r.wave < m) ? r.wave : m), null);
  const testWave = firstWave(test);
  const testStarts = testWave === null ? null : c.schedule.at ? new Date(Math.max(testWave.getTime() - decideMs, now.getTime())) : now;
  const restWave = rest?.wave ?? null;
  const decideAt = rest === undefined ? null : c.schedule.at ? restWave : new Date(now.getTime() + decideMs);
  return {
    variants: e.variants.map((v) => ({
      name: v.name,
      subject: v.subject ?? c.subject,
      template: v.relTemplate ?? c.relTemplate,
      test_recipients: test.find((r) => r.variant === v.name)?.n ?? 0,
    })),
    default: names[0]!,
    share,
    metric: e.test.metric,
    decide_after_seconds: e.test.decideAfterSeconds,
    test_recipients: test.reduce((a, r) => a + r.n, 0),
    rest_recipients: rest?.n ?? 0,
    test_starts_at: testStarts?.toISOString() ?? null,
    decide_at: decideAt?.toISOString() ?? null,
    winner: decided?.winner ?? null,
    note: decided?.note ?? null,
  };
}
