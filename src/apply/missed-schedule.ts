import { sql, type Kysely } from 'kysely';
import type { LoadedCampaign } from '../campaigns/index.js';
import type { Database } from '../db/types.js';
import { dueAtExpression, isSuppressed, matchesAudience } from '../sending/audience.js';

/**
 * When a campaign first reaches the ledger after its whole schedule has passed by more than
 * late_grace (its merge's run was lost for hours, or it was merged late), sending it now would
 * mail people at a time nobody chose. With `late: skip` it is reported as missed and not sent;
 * with `late: send` (the default) it goes out late, as any late wave does. A campaign the ledger
 * already knows is never missed: it was applied in time, and dispatch handles its late waves.
 * Returns the time of its last wave when missed.
 */
export async function missedSchedule(db: Kysely<Database>, c: LoadedCampaign, now: Date): Promise<Date | undefined> {
  if (c.schedule.late !== 'skip' || !c.schedule.at) return undefined;
  const known = await db.selectFrom('campaigns').select('id').where('id', '=', c.id).executeTakeFirst();
  if (known) return undefined;
  // The last wave among the people it would go to (with timezone: subscriber, the zone furthest
  // west); nobody in the audience means nothing to miss.
  const { rows } = await sql<{ last: Date | null }>`
    SELECT max(${dueAtExpression(c.schedule, now)}) AS last FROM subscribers s
    WHERE s.status = 'active' AND ${matchesAudience(c.audience)} AND NOT ${isSuppressed}`.execute(db);
  const last = rows[0]?.last;
  if (!last) return undefined;
  return last.getTime() < now.getTime() - c.schedule.lateGraceSeconds * 1000 ? last : undefined;
}

/** How many deliveries enqueueing `c` now would add (for `apply --plan`: reads only). */
export async function enqueueableCount(db: Kysely<Database>, c: LoadedCampaign): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM subscribers s
    WHERE s.status = 'active' AND ${matchesAudience(c.audience)} AND NOT ${isSuppressed}
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = ${c.id} AND d.subscriber_id = s.id)`.execute(db);
  return rows[0]?.n ?? 0;
}

/**
 * For `apply --plan`: the refusal `recordCampaign` would raise, read-only. A changed campaign
 * whose sending has begun is refused; otherwise undefined.
 */
export async function changedAfterSending(db: Kysely<Database>, c: LoadedCampaign): Promise<number | undefined> {
  const row = await db.selectFrom('campaigns').select('content_hash').where('id', '=', c.id).executeTakeFirst();
  if (!row || row.content_hash === c.contentHash) return undefined;
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM deliveries WHERE campaign_id = ${c.id} AND status NOT IN ('queued', 'skipped')`.execute(db);
  const begun = rows[0]?.n ?? 0;
  return begun > 0 ? begun : undefined;
}
