import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import { withDbRetry } from '../db/retry.js';
import { normaliseAddresses } from './forget-subscriber.js';
import { suppress } from './suppress.js';

export interface UnsubscribeResult {
  /** Subscribers moved from active to unsubscribed. */
  unsubscribed: number;
  /** Subscribers that were already unsubscribed, bounced or complained. */
  already: number;
  /** Addresses with no subscriber: suppressed all the same, so a later import skips them. */
  not_found: number;
  /** Queued deliveries now skipped. */
  skipped_deliveries: number;
}

/** What the one-click endpoint does, for addresses given by hand (a reply, a support ticket). */
export async function unsubscribeAddresses(db: Kysely<Database>, addresses: string[], detail = 'unsubscribed by hand'): Promise<UnsubscribeResult> {
  const emails = normaliseAddresses(addresses);
  if (emails.length === 0) return { unsubscribed: 0, already: 0, not_found: 0, skipped_deliveries: 0 };
  return withDbRetry(() => db.transaction().execute(async (trx) => {
    const found = await sql<{ id: string; email: string }>`
      SELECT id::text AS id, lower(email) AS email FROM subscribers
      WHERE lower(email) = ANY(${emails}::text[]) AND status <> 'forgotten'`.execute(trx);
    const known = new Map(found.rows.map((r) => [r.email, r.id]));
    const r = await suppress(trx, emails.map((email) => ({ reason: 'unsubscribed' as const, subscriberId: known.get(email), email, detail })));
    return { unsubscribed: r.subscribers, already: known.size - r.subscribers, not_found: emails.length - known.size, skipped_deliveries: r.skippedDeliveries };
  }));
}
