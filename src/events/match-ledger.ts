import { sql, type Transaction } from 'kysely';
import type { Database, DeliveryStatus } from '../db/types.js';
import type { SesEvent } from './parse-ses-event.js';
import { sqlArray } from '../db/sql-array.js';

/** A ledger row as of its row lock: exact until the transaction ends. */
export interface LedgerRow {
  id: string;
  campaign_id: number;
  subscriber_id: string;
  timezone: string;
  message_id: string | null;
  status: DeliveryStatus;
  delivered_at: Date | null;
  opened_at: Date | null;
  clicked_at: Date | null;
  bounced_at: Date | null;
  complained_at: Date | null;
  unsubscribed_at: Date | null;
}

export interface Matched {
  event: SesEvent;
  delivery: LedgerRow | undefined;
  campaignId: number | undefined;
}

const COLUMNS = sql`id::text AS id, campaign_id, subscriber_id::text AS subscriber_id, timezone, message_id, status,
  delivered_at, opened_at, clicked_at, bounced_at, complained_at, unsubscribed_at`;

/**
 * Match events to the ledger by the `delivery` EmailTag, falling back to the SES message id (the
 * older notification format has no tags), and lock the matched rows for the rest of the
 * transaction. A tag is trusted only if the row agrees with the event (same message id once
 * known, same campaign tag): another installation's tags must not touch our ledger.
 *
 * Rows are locked in id order in one statement, so concurrent ingesters cannot deadlock on them
 * (only a tag that disagrees with its row needs a second statement). Because the rows are locked
 * when read, what the batch changes is decided here exactly: which first-event columns move from
 * NULL (counted per wave), whether an `unknown` send is settled, and which rows need no write.
 */
export async function matchLedger(trx: Transaction<Database>, events: SesEvent[]): Promise<Matched[]> {
  const ids = new Set<string>();
  const untagged = new Set<string>();
  for (const e of events) {
    if (e.deliveryTag) ids.add(e.deliveryTag);
    else if (e.messageId) untagged.add(e.messageId);
  }
  const byId = new Map<string, LedgerRow>();
  const locked: LedgerRow[] = [];
  // By message id: built only when an event is matched that way (untagged, or a tag that
  // disagrees), which a batch of marketer's own tagged mail never needs.
  let byMessage: Map<string, LedgerRow> | undefined;
  const messageIndex = () => {
    if (!byMessage) {
      byMessage = new Map();
      for (const r of locked) if (r.message_id) byMessage.set(r.message_id, r);
    }
    return byMessage;
  };
  const keep = (rows: LedgerRow[]) => {
    for (const r of rows) {
      byId.set(r.id, r);
      locked.push(r);
    }
    byMessage = undefined;
  };
  if (ids.size > 0 || untagged.size > 0) keep(await lockRows(trx, [...ids], [...untagged]));

  const agrees = (e: SesEvent, d: LedgerRow | undefined) =>
    d !== undefined && (d.message_id === null || d.message_id === e.messageId) && (e.campaignTag === undefined || e.campaignTag === d.campaign_id);
  const tagged = (e: SesEvent) => (e.deliveryTag ? byId.get(e.deliveryTag) : undefined);
  const more = new Set<string>();
  for (const e of events) if (e.deliveryTag && e.messageId && !agrees(e, tagged(e)) && !messageIndex().has(e.messageId)) more.add(e.messageId);
  if (more.size > 0) keep(await lockRows(trx, [], [...more]));

  return events.map((event) => {
    const t = tagged(event);
    const delivery = agrees(event, t) ? t : event.messageId ? messageIndex().get(event.messageId) : undefined;
    return { event, delivery, campaignId: delivery?.campaign_id ?? event.campaignTag };
  });
}

// The id column is selected as text: ORDER BY names the table's, so that rows are locked in
// numeric order, not in the order of the text.
async function lockRows(trx: Transaction<Database>, ids: string[], messageIds: string[]): Promise<LedgerRow[]> {
  const where = messageIds.length === 0
    ? sql`id = ANY(${sqlArray(ids)}::bigint[])`
    : ids.length === 0
      ? sql`message_id = ANY(${sqlArray(messageIds)}::text[])`
      : sql`(id = ANY(${sqlArray(ids)}::bigint[]) OR message_id = ANY(${sqlArray(messageIds)}::text[]))`;
  const r = await sql<LedgerRow>`/* prepared */ SELECT ${COLUMNS} FROM deliveries WHERE ${where} ORDER BY deliveries.id FOR UPDATE`.execute(trx);
  return r.rows;
}
