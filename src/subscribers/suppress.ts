import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, SubscriberStatus } from '../db/types.js';
import { sqlArray } from '../db/sql-array.js';

/**
 * What a bounce, a complaint or an unsubscribe does, in one place: mark the subscriber, add a
 * suppression (keyed by an HMAC of the lower-cased address, so it outlives the subscriber row),
 * and skip the subscriber's still-queued deliveries. The sender re-checks suppressions at claim
 * time; skipping queued rows as well makes `stats` and `plan` show them at once.
 */

type Db = Kysely<Database> | Transaction<Database>;

export type SuppressReason = 'unsubscribed' | 'bounced' | 'complained';

/** Something that happened to an address, in time order. */
export interface AddressOutcome {
  kind: 'hard-bounce' | 'soft-bounce' | 'delivered' | 'complaint' | 'unsubscribe';
  subscriberId?: string | undefined;
  /** Needed where no subscriber is known (mail marketer did not send, or a deleted subscriber). */
  email?: string | undefined;
  detail?: string | undefined;
}

export interface SuppressionRequest {
  reason: SuppressReason;
  subscriberId?: string | undefined;
  email?: string | undefined;
  detail?: string | undefined;
}

export interface SuppressResult {
  /** New rows in suppressions. */
  suppressions: number;
  /** Subscribers moved from active to unsubscribed/bounced/complained. */
  subscribers: number;
  /** Queued deliveries now skipped. */
  skippedDeliveries: number;
}

const STATUS: Record<SuppressReason, SubscriberStatus> = {
  unsubscribed: 'unsubscribed',
  bounced: 'bounced',
  complained: 'complained',
};

/** Suppress addresses and subscribers. The caller owns the transaction. */
export async function suppress(db: Db, requests: SuppressionRequest[]): Promise<SuppressResult> {
  const result: SuppressResult = { suppressions: 0, subscribers: 0, skippedDeliveries: 0 };
  if (requests.length === 0) return result;
  const ids = [...new Set(requests.flatMap((r) => (r.subscriberId ? [r.subscriberId] : [])))];
  const emails = [...new Set(requests.flatMap((r) => (!r.subscriberId && r.email ? [r.email.toLowerCase()] : [])))];
  const found = await sql<{ id: string; email: string }>`/* prepared */
    SELECT id::text AS id, email FROM subscribers WHERE id = ANY(${sqlArray(ids)}::bigint[])
    UNION
    SELECT id::text, email FROM subscribers WHERE lower(email) = ANY(${sqlArray(emails)}::text[])`.execute(db);
  const byId = new Map(found.rows.map((r) => [r.id, r.email]));
  const byEmail = new Map(found.rows.map((r) => [r.email.toLowerCase(), r.id]));

  // First request per address wins: an address has one suppression reason.
  const addresses = new Map<string, { reason: SuppressReason; detail: string | null }>();
  const subscribers = new Map<string, SuppressReason>();
  for (const r of requests) {
    const subscriberId = r.subscriberId ?? (r.email ? byEmail.get(r.email.toLowerCase()) : undefined);
    const email = (subscriberId ? byId.get(subscriberId) : undefined) ?? r.email;
    if (email && !addresses.has(email.toLowerCase())) addresses.set(email.toLowerCase(), { reason: r.reason, detail: r.detail ?? null });
    if (subscriberId && byId.has(subscriberId) && !subscribers.has(subscriberId)) subscribers.set(subscriberId, r.reason);
  }
  if (addresses.size > 0) {
    // Sorted so that concurrent ingest batches take index locks in one order.
    const list = [...addresses].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const inserted = await sql`/* prepared */
      INSERT INTO suppressions (email_hash, reason, detail)
      SELECT marketer_address_hash(e), r, d
      FROM unnest(${sqlArray(list.map(([e]) => e))}::text[], ${sqlArray(list.map(([, v]) => v.reason))}::text[], ${sqlArray(list.map(([, v]) => v.detail))}::text[]) AS u(e, r, d)
      ON CONFLICT (email_hash) DO NOTHING`.execute(db);
    result.suppressions = Number(inserted.numAffectedRows ?? 0);
  }
  if (subscribers.size > 0) {
    const list = [...subscribers].sort(([a], [b]) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
    const updated = await sql`/* prepared */
      UPDATE subscribers s SET status = u.st, updated_at = now()
      FROM unnest(${sqlArray(list.map(([id]) => id))}::bigint[], ${sqlArray(list.map(([, r]) => STATUS[r]))}::text[]) AS u(id, st)
      WHERE s.id = u.id AND s.status = 'active'`.execute(db);
    result.subscribers = Number(updated.numAffectedRows ?? 0);
    const skipped = await sql`/* prepared */
      UPDATE deliveries SET status = 'skipped', error = 'suppressed'
      WHERE subscriber_id = ANY(${sqlArray(list.map(([id]) => id))}::bigint[]) AND status = 'queued'`.execute(db);
    result.skippedDeliveries = Number(skipped.numAffectedRows ?? 0);
  }
  return result;
}

/**
 * Apply outcomes in time order: hard bounces and complaints suppress at once; transient
 * bounces count in a row (a delivery resets the count) and suppress at `softBounceLimit`.
 */
export async function applyAddressOutcomes(db: Db, outcomes: AddressOutcome[], options: { softBounceLimit: number }): Promise<SuppressResult> {
  const requests: SuppressionRequest[] = [];
  const soft = new Map<string, { reset: boolean; add: number; detail: string | undefined }>();
  for (const o of outcomes) {
    switch (o.kind) {
      case 'hard-bounce':
        requests.push({ reason: 'bounced', subscriberId: o.subscriberId, email: o.email, detail: o.detail });
        break;
      case 'complaint':
        requests.push({ reason: 'complained', subscriberId: o.subscriberId, email: o.email, detail: o.detail });
        break;
      case 'unsubscribe':
        requests.push({ reason: 'unsubscribed', subscriberId: o.subscriberId, email: o.email, detail: o.detail });
        break;
      case 'delivered':
      case 'soft-bounce': {
        // Only subscribers have a counter; an unknown address has nothing to count against.
        if (!o.subscriberId) break;
        const s = soft.get(o.subscriberId) ?? { reset: false, add: 0, detail: undefined };
        if (o.kind === 'delivered') {
          s.reset = true;
          s.add = 0;
        } else {
          s.add += 1;
          s.detail = o.detail;
        }
        soft.set(o.subscriberId, s);
        break;
      }
    }
  }
  if (soft.size > 0) {
    const list = [...soft].sort(([a], [b]) => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0));
    const counted = await sql<{ id: string; soft_bounces: number }>`/* prepared */
      UPDATE subscribers s
      SET soft_bounces = CASE WHEN u.reset THEN u.add ELSE s.soft_bounces + u.add END
      FROM unnest(${sqlArray(list.map(([id]) => id))}::bigint[], ${sqlArray(list.map(([, v]) => String(v.reset)))}::boolean[], ${sqlArray(list.map(([, v]) => v.add))}::int[]) AS u(id, reset, add)
      -- A delivery to someone with no bounces on record changes nothing: skip the write.
      WHERE s.id = u.id AND (u.add > 0 OR s.soft_bounces <> 0)
      RETURNING s.id::text AS id, s.soft_bounces`.execute(db);
    for (const row of counted.rows) {
      const s = soft.get(row.id);
      if (s && s.add > 0 && row.soft_bounces >= options.softBounceLimit) {
        requests.push({ reason: 'bounced', subscriberId: row.id, detail: `${row.soft_bounces} transient bounces in a row${s.detail ? ` (last: ${s.detail})` : ''}` });
      }
    }
  }
  return suppress(db, requests);
}

/**
 * A one-click (RFC 8058) or SES list-management unsubscribe for a campaign's recipient: mark
 * the delivery (so the campaign's report counts it) and suppress the subscriber.
 */
export async function recordUnsubscribe(db: Db, claims: { subscriberId: string; campaignId: number | undefined; at?: Date; detail?: string }): Promise<SuppressResult & { known: boolean }> {
  const exists = await sql<{ id: string }>`SELECT id::text AS id FROM subscribers WHERE id = ${claims.subscriberId}::bigint`.execute(db);
  if (exists.rows.length === 0) return { known: false, suppressions: 0, subscribers: 0, skippedDeliveries: 0 };
  if (claims.campaignId !== undefined) {
    // The first unsubscribe of this delivery also counts in its wave's report row.
    await sql`
      WITH changed AS (
        UPDATE deliveries SET unsubscribed_at = ${(claims.at ?? new Date()).toISOString()}::timestamptz
        WHERE campaign_id = ${claims.campaignId} AND subscriber_id = ${claims.subscriberId}::bigint AND unsubscribed_at IS NULL
        RETURNING campaign_id, timezone
      )
      INSERT INTO campaign_wave_firsts AS w (campaign_id, timezone, unsubscribed)
      SELECT campaign_id, timezone, 1 FROM changed
      ON CONFLICT (campaign_id, timezone) DO UPDATE SET unsubscribed = w.unsubscribed + 1`.execute(db);
  }
  const r = await suppress(db, [{ reason: 'unsubscribed', subscriberId: claims.subscriberId, detail: claims.detail }]);
  return { known: true, ...r };
}
