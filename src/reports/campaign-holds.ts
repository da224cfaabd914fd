import type { Kysely } from 'kysely';
import type { Database } from '../db/types.js';

/** Something that held a campaign's sending back: a pause, a warm-up cap, a circuit breaker. */
export interface CampaignHold {
  kind: 'paused' | 'warm-up' | 'breaker';
  reason: string;
  /** When it began, where recorded. */
  since: string | null;
}

/**
 * Holds as the database records them. Today that is the campaign's pause (status `paused` with
 * its `paused_reason`, set by dispatch after repeated failures); policies that hold sending back
 * (warm-up caps, bounce/complaint breakers) add their own records here, one reader per source.
 */
export async function campaignHolds(db: Kysely<Database>, campaignId: number): Promise<CampaignHold[]> {
  const holds: CampaignHold[] = [];
  const c = await db.selectFrom('campaigns').select(['status', 'paused_reason', 'updated_at']).where('id', '=', campaignId).executeTakeFirst();
  if (c?.status === 'paused') {
    holds.push({ kind: 'paused', reason: c.paused_reason ?? 'paused (no reason recorded)', since: c.updated_at ? new Date(c.updated_at).toISOString() : null });
  }
  return holds;
}
