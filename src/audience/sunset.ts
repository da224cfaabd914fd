import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from '../db/types.js';
import { audienceExpression } from './compile-conditions.js';
import type { AudienceSpec, SunsetRule } from './types.js';

/**
 * True for a subscriber (alias `s`) who was sent at least `minCampaigns` mails in the period and
 * opened or clicked none: neither those nor any other mail in the period. A delivery's first open
 * and first click are on the ledger (deliveries.opened_at, clicked_at), which outlives the raw
 * events that `events_retention` prunes, and the ledger's unique (subscriber_id, campaign_id) finds a person's rows.
 */
export function isSunset(rule: SunsetRule): RawBuilder<boolean> {
  const cutoff = sql`(now() - make_interval(secs => ${rule.seconds}::float8))`;
  return sql<boolean>`COALESCE((
    SELECT count(*) FILTER (WHERE y.sent_at >= ${cutoff}) >= ${rule.minCampaigns}::int
       AND NOT COALESCE(bool_or(y.opened_at >= ${cutoff} OR y.clicked_at >= ${cutoff}), false)
    FROM deliveries y WHERE y.subscriber_id = s.id), false)`;
}

/**
 * At enqueue: how many of the campaign's audience (active, unsuppressed, not yet in its ledger)
 * sunsetting leaves out, stored on the campaign row for `stats`. Null when sunsetting is off.
 */
export async function recordSunsetCount(
  db: Kysely<Database> | Transaction<Database>,
  campaignId: number,
  audience: AudienceSpec,
  isSuppressed: RawBuilder<boolean>,
): Promise<number | null> {
  let count: number | null = null;
  if (audience.sunset) {
    const r = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM subscribers s
      WHERE s.status = 'active' AND ${audienceExpression(audience, { sunset: false })} AND NOT ${isSuppressed}
        AND ${isSunset(audience.sunset)}
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = ${campaignId} AND d.subscriber_id = s.id)`.execute(db);
    count = r.rows[0]?.n ?? 0;
  }
  await db.updateTable('campaigns').set({ sunset_skipped: count }).where('id', '=', campaignId).execute();
  return count;
}
