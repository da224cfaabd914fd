import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import { decideWinner, type Decision } from './decide-winner.js';
import type { TestMetric } from './types.js';

export interface WinnerDecision extends Decision {
  campaign: number;
  metric: TestMetric;
  /** Rest deliveries that got the winner. */
  assigned: number;
}

/**
 * Decide every test whose rest has a delivery due by `now` (the first non-test delivery coming
 * due is the moment of decision). Called before each claim with the claim's own `now`, so a rest
 * row is never claimed before its variant is written (the claim skips rest rows without one
 * all the same). Returns the decisions this call made; one made by another worker is not
 * repeated. The look costs an index probe into rows that exist only while a test is undecided.
 */
export async function decideDueTests(db: Kysely<Database>, now: Date, worker: string, campaignId?: number): Promise<WinnerDecision[]> {
  const campaignFilter = campaignId === undefined ? sql`` : sql`AND t.campaign_id = ${campaignId}`;
  const { rows } = await sql<{ campaign_id: number }>`
    SELECT t.campaign_id FROM campaign_tests t JOIN campaigns c ON c.id = t.campaign_id
    WHERE t.winner IS NULL AND c.status = 'running' ${campaignFilter}
      AND EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = t.campaign_id AND d.in_test = false
                  AND d.variant IS NULL AND d.due_at <= ${now})`.execute(db);
  const made: WinnerDecision[] = [];
  for (const r of rows) {
    const d = await decideTest(db, r.campaign_id, worker);
    if (d) made.push(d);
  }
  return made;
}

/**
 * Choose the winner of one test and write it on every rest delivery, in one transaction:
 * - the campaign row is locked first, as enqueue does, so no rest row is being added meanwhile
 *   without a variant;
 * - the campaign_tests row is locked next: a second worker waits here, then finds the winner
 *   and does nothing. So the decision is made once, and the rest's variant is set once.
 * Returns undefined when the test was already decided.
 */
export async function decideTest(db: Kysely<Database>, campaignId: number, worker: string): Promise<WinnerDecision | undefined> {
  return db.transaction().execute(async (trx) => {
    await sql`SELECT 1 FROM campaigns WHERE id = ${campaignId} FOR UPDATE`.execute(trx);
    const test = await trx.selectFrom('campaign_tests').selectAll().where('campaign_id', '=', campaignId).forUpdate().executeTakeFirst();
    if (!test || test.winner !== null) return undefined;
    const eventColumn = test.metric === 'clicks' ? sql`clicked_at IS NOT NULL` : sql`(opened_at IS NOT NULL OR clicked_at IS NOT NULL)`;
    // Delivered: accepted by SES and not bounced (Delivery events may not be published, and a
    // click proves delivery anyway). A click counts as an open: images may be blocked.
    const { rows } = await sql<{ variant: string; delivered: number; events: number }>`
      SELECT variant, count(*) FILTER (WHERE status = 'sent' AND bounced_at IS NULL)::int AS delivered,
             count(*) FILTER (WHERE status = 'sent' AND bounced_at IS NULL AND ${eventColumn})::int AS events
      FROM deliveries WHERE campaign_id = ${campaignId} AND in_test GROUP BY variant`.execute(trx);
    const figures = test.variants.map((v) => rows.find((r) => r.variant === v) ?? { variant: v, delivered: 0, events: 0 });
    const decision = decideWinner(figures, test.metric, test.variants[0]!);
    await trx.updateTable('campaign_tests').set({
      winner: decision.winner, reason: decision.reason, note: decision.note, decided_at: new Date(), decided_by: worker,
      figures: JSON.stringify({ variants: decision.figures, z: decision.z, p: decision.p, significant: decision.significant }),
    }).where('campaign_id', '=', campaignId).execute();
    const assigned = await sql`
      UPDATE deliveries SET variant = ${decision.winner}
      WHERE campaign_id = ${campaignId} AND in_test = false AND variant IS NULL`.execute(trx);
    return { ...decision, campaign: campaignId, metric: test.metric, assigned: Number(assigned.numAffectedRows ?? 0) };
  });
}
