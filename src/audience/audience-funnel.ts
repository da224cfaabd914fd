import { sql, type Kysely, type RawBuilder } from 'kysely';
import type { Database } from '../db/types.js';
import { compileCondition } from './compile-conditions.js';
import { isSunset } from './sunset.js';
import type { AudienceSpec } from './types.js';

export interface FunnelStep {
  /** The condition as written, e.g. `attribute seats gte 5`; `sunset_after 180d (5 campaigns)` for sunsetting. */
  condition: string;
  /** The segment it comes from, if any. */
  segment?: string;
  /** Subscribers the conditions above let through and this one does not. */
  removed: number;
  /** Subscribers left after it. */
  remaining: number;
}

/**
 * How many reachable subscribers (active, not suppressed) each condition removes, in order: what
 * the conditions above it left, minus what it leaves. One pass: each condition is one column of
 * a subquery (OFFSET 0 keeps the planner from inlining it and evaluating a condition once per
 * count), then one count per step. The last step's `remaining` is the audience.
 */
export async function audienceFunnel(db: Kysely<Database>, spec: AudienceSpec, isSuppressed: RawBuilder<boolean>): Promise<FunnelStep[]> {
  const steps = spec.steps.map((s) => ({ label: s.label, segment: s.segment, expr: compileCondition(s.condition) }));
  if (spec.sunset) {
    steps.push({ label: `sunset_after ${spec.sunset.text} (${spec.sunset.minCampaigns} campaigns)`, segment: undefined, expr: sql<boolean>`NOT ${isSunset(spec.sunset)}` });
  }
  if (steps.length === 0) return [];
  const column = (i: number) => sql.id(`k${i}`);
  const passed = (n: number) => (n === 0 ? sql`true` : sql.join(Array.from({ length: n }, (_, i) => column(i)), sql` AND `));
  const counts = steps.map((_, i) => sql`count(*) FILTER (WHERE ${passed(i)} AND NOT ${column(i)})::int AS ${sql.id(`r${i}`)}`);
  const r = await sql<Record<string, number>>`
    SELECT count(*)::int AS base, ${sql.join(counts)}
    FROM (SELECT ${sql.join(steps.map((s, i) => sql`${s.expr} AS ${column(i)}`))}
          FROM subscribers s WHERE s.status = 'active' AND NOT ${isSuppressed} OFFSET 0) x`.execute(db);
  const row = r.rows[0]!;
  let remaining = row.base ?? 0;
  return steps.map((s, i) => {
    const removed = row[`r${i}`] ?? 0;
    remaining -= removed;
    return { condition: s.label, ...(s.segment ? { segment: s.segment } : {}), removed, remaining };
  });
}
