import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/types.js';

/**
 * Circuit breakers: a campaign whose hard bounces or complaints climb past what SES tolerates
 * pauses itself while it sends, before the account does.
 *
 * SES puts an account under review at a 5% bounce rate and at 0.1% complaints (and pauses it at
 * about twice that), over the account's recent sending; the defaults trip at those review
 * thresholds, on one campaign's figures, so a stale list stops before it drags the account over.
 * Rates are taken among settled deliveries (SES reported a delivery or a bounce), not among
 * sent ones: early in a send most mail is not settled yet, and dividing by the sent count would
 * hide a bad list until the end. Below `minSample` settled deliveries a rate is noise (2 bounces
 * of the first 20 are 10%), so nothing trips.
 */
export interface BreakerLimits {
  maxBounceRate: number;
  maxComplaintRate: number;
  minSample: number;
}

export interface BreakerFigures {
  /** Deliveries SES reported delivered or bounced. */
  settled: number;
  hardBounces: number;
  complaints: number;
}

const pct = (r: number) => `${(r * 100).toFixed(r < 0.01 ? 2 : 1)}%`;

/** Why the campaign must pause, or undefined while it is within limits. */
export function breakerTrip(f: BreakerFigures, limits: BreakerLimits): { breaker: 'bounce' | 'complaint'; reason: string } | undefined {
  if (f.settled < limits.minSample) return undefined;
  const bounceRate = f.hardBounces / f.settled;
  if (bounceRate > limits.maxBounceRate) {
    return {
      breaker: 'bounce',
      reason: `hard bounce rate ${pct(bounceRate)} (${f.hardBounces} of ${f.settled} settled deliveries) is above max_bounce_rate ${pct(limits.maxBounceRate)}`,
    };
  }
  const complaintRate = f.complaints / f.settled;
  if (complaintRate > limits.maxComplaintRate) {
    return {
      breaker: 'complaint',
      reason: `complaint rate ${pct(complaintRate)} (${f.complaints} of ${f.settled} settled deliveries) is above max_complaint_rate ${pct(limits.maxComplaintRate)}`,
    };
  }
  return undefined;
}

/**
 * Each running campaign's figures (of `campaignIds`, or of all) from the rollups ingest keeps (a few rows per campaign, so
 * this is cheap enough to run every few seconds during a send), less the figures recorded when
 * the campaign was last resumed: someone looked and chose to go on, so the breaker judges what
 * happens from then.
 */
export async function breakerFigures(db: Kysely<Database>, campaignIds?: number[]): Promise<Map<number, BreakerFigures>> {
  const out = new Map<number, BreakerFigures>();
  const only = campaignIds === undefined ? sql`` : sql`AND c.id = ANY(${campaignIds}::int[])`;
  const { rows } = await sql<{ id: number; settled: string; hard: string; complaints: string }>`
    SELECT c.id,
      coalesce(sum(e.events) FILTER (WHERE e.kind = 'Delivery' OR e.kind LIKE 'Bounce:%'), 0) - coalesce((c.breaker_baseline->>'settled')::bigint, 0) AS settled,
      coalesce(sum(e.events) FILTER (WHERE e.kind = 'Bounce:Permanent'), 0) - coalesce((c.breaker_baseline->>'hardBounces')::bigint, 0) AS hard,
      coalesce(sum(e.events) FILTER (WHERE e.kind = 'Complaint'), 0) - coalesce((c.breaker_baseline->>'complaints')::bigint, 0) AS complaints
    FROM campaigns c LEFT JOIN campaign_event_counts e ON e.campaign_id = c.id
    WHERE c.status = 'running' ${only}
      -- A campaign with nothing left to send has nothing to protect by pausing.
      AND (EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND d.status = 'queued')
           OR EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND d.status = 'sending'))
    GROUP BY c.id, c.breaker_baseline`.execute(db);
  for (const r of rows) out.set(r.id, { settled: Number(r.settled), hardBounces: Number(r.hard), complaints: Number(r.complaints) });
  return out;
}

/** On resume: the breakers start counting afresh from the campaign's figures now. */
export async function resetBreakers(db: Kysely<Database>, campaignId: number): Promise<void> {
  await sql`
    UPDATE campaigns c SET breaker_baseline = jsonb_build_object(
      'settled', coalesce((SELECT sum(events) FROM campaign_event_counts e WHERE e.campaign_id = c.id AND (e.kind = 'Delivery' OR e.kind LIKE 'Bounce:%')), 0),
      'hardBounces', coalesce((SELECT sum(events) FROM campaign_event_counts e WHERE e.campaign_id = c.id AND e.kind = 'Bounce:Permanent'), 0),
      'complaints', coalesce((SELECT sum(events) FROM campaign_event_counts e WHERE e.campaign_id = c.id AND e.kind = 'Complaint'), 0))
    WHERE c.id = ${campaignId}`.execute(db);
}
