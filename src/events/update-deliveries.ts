import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/types.js';
import type { WaveFirsts } from './add-rollups.js';
import type { LedgerRow, Matched } from './match-ledger.js';
import { unsubscribes, type SesEvent } from './parse-ses-event.js';
import { sqlArray } from '../db/sql-array.js';

const FIRSTS = ['delivered', 'opened', 'clicked', 'bounced', 'complained', 'unsubscribed'] as const;

/**
 * A delivery the batch touches. The earliest event of each kind in the batch (its time, and
 * that time's ISO text to send) is a field of its own, so that every change has one shape.
 */
interface DeliveryChange {
  row: LedgerRow;
  delivered: SesEvent | undefined;
  opened: SesEvent | undefined;
  clicked: SesEvent | undefined;
  bounced: SesEvent | undefined;
  complained: SesEvent | undefined;
  unsubscribed: SesEvent | undefined;
  settle: 'sent' | 'failed' | undefined;
  sentAt: SesEvent | undefined;
  messageId: string | undefined;
  error: string | undefined;
}

const earliest = (a: SesEvent | undefined, b: SesEvent) => (a === undefined || b.timeMs < a.timeMs ? b : a);

/**
 * Would `at` move the column `stored`? Earliest wins. A stored time may carry microseconds that
 * the JavaScript Date read of it lost, so an equal time counts as a change: the statement's
 * LEAST and its WHERE decide, exactly.
 */
const moves = (stored: Date | null, at: SesEvent | undefined) => at !== undefined && (stored === null || at.timeMs <= stored.getTime());

const bit = (stored: Date | null, at: SesEvent | undefined, i: number) => (moves(stored, at) ? (stored === null ? 0b1000001 : 1) << i : 0);

/**
 * Which first-event columns the batch moves, as bits in FIRSTS order: bit i when it moves
 * column i, and bit 6 + i as well when that column was NULL until now (a first, counted).
 */
function movedColumns(c: DeliveryChange): number {
  const d = c.row;
  return bit(d.delivered_at, c.delivered, 0) | bit(d.opened_at, c.opened, 1) | bit(d.clicked_at, c.clicked, 2)
    | bit(d.bounced_at, c.bounced, 3) | bit(d.complained_at, c.complained, 4) | bit(d.unsubscribed_at, c.unsubscribed, 5);
}

/**
 * First-event timestamps (the earliest wins, whatever the arrival order), the per-wave counts
 * of deliveries with each of them set, and settlement of `unknown` sends: any event SES emits
 * after accepting the mail proves it was sent; a Reject or Rendering Failure proves it was not.
 *
 * `events` are this batch's new events in time order, their ledger rows locked by matchLedger,
 * so the rows' values are exact: a column that is NULL now and set by the batch is a first, and
 * a row the batch would not change (a second open, a Send of a sent mail) is not written at all.
 * Returns how many `unknown` sends were settled, and the per-wave counts of firsts for
 * addRollups to write at the end of the transaction.
 */
export async function updateDeliveries(trx: Transaction<Database>, events: Matched[], topic: string | undefined): Promise<{ settled: number; waves: WaveFirsts[] }> {
  const changes = new Map<string, DeliveryChange>();
  let settled = 0;
  for (const m of events) {
    if (!m.delivery || !m.event.known) continue;
    const e = m.event;
    let c = changes.get(m.delivery.id);
    if (!c) {
      c = { row: m.delivery, delivered: undefined, opened: undefined, clicked: undefined, bounced: undefined, complained: undefined, unsubscribed: undefined,
        settle: undefined, sentAt: undefined, messageId: undefined, error: undefined };
      changes.set(m.delivery.id, c);
    }
    switch (e.type) {
      case 'Delivery': c.delivered = earliest(c.delivered, e); break;
      case 'Open': c.opened = earliest(c.opened, e); break;
      case 'Click': c.clicked = earliest(c.clicked, e); break;
      case 'Bounce': c.bounced = earliest(c.bounced, e); break;
      case 'Complaint': c.complained = earliest(c.complained, e); break;
      case 'Send': c.sentAt = earliest(c.sentAt, e); break;
      default: if (unsubscribes(e, topic)) c.unsubscribed = earliest(c.unsubscribed, e);
    }
    if (m.delivery.status === 'unknown' && c.settle === undefined) {
      if (e.type === 'Reject' || e.type === 'Rendering Failure') {
        c.settle = 'failed';
        c.error = e.type === 'Reject' ? `SES rejected the message: ${String(e.payload?.reason ?? 'no reason given')}` : `SES rendering failure: ${String(e.payload?.errorMessage ?? '')}`;
      } else {
        c.settle = 'sent';
        c.sentAt ??= e;
      }
      settled += 1;
    }
    // Only a row without one takes the message id (COALESCE below): the others send none.
    if (m.delivery.message_id === null) c.messageId = e.messageId;
  }
  if (changes.size === 0) return { settled, waves: [] };

  const list: DeliveryChange[] = [];
  // Campaign, then zone: no key built per delivery.
  const waves = new Map<number, Map<string, WaveFirsts>>();
  const waveList: WaveFirsts[] = [];
  for (const c of changes.values()) {
    const d = c.row;
    const moved = movedColumns(c);
    if (moved === 0 && c.settle === undefined && c.messageId === undefined) continue;
    list.push(c);
    if (moved >> 6 === 0) continue;
    let zones = waves.get(d.campaign_id);
    if (!zones) waves.set(d.campaign_id, (zones = new Map()));
    let w = zones.get(d.timezone);
    if (!w) {
      zones.set(d.timezone, (w = { campaign: d.campaign_id, timezone: d.timezone, delivered: 0, opened: 0, clicked: 0, bounced: 0, complained: 0, unsubscribed: 0 }));
      waveList.push(w);
    }
    for (let i = 0; i < FIRSTS.length; i += 1) if (moved & (64 << i)) w[FIRSTS[i]!] += 1;
  }

  if (list.length > 0) {
    const ts = (f: (c: DeliveryChange) => SesEvent | undefined) => sqlArray(list.map((c) => f(c)?.iso ?? null));
    // The rows are locked already (matchLedger), so the order of this statement's writes does not
    // matter. The WHERE skips a row whose values would not change after all (an equal time).
    await sql`/* prepared */
      UPDATE deliveries d SET
        delivered_at = LEAST(d.delivered_at, u.delivered),
        opened_at = LEAST(d.opened_at, u.opened),
        clicked_at = LEAST(d.clicked_at, u.clicked),
        bounced_at = LEAST(d.bounced_at, u.bounced),
        complained_at = LEAST(d.complained_at, u.complained),
        unsubscribed_at = LEAST(d.unsubscribed_at, u.unsubscribed),
        status = CASE WHEN d.status = 'unknown' AND u.settle IS NOT NULL THEN u.settle ELSE d.status END,
        sent_at = CASE WHEN d.status = 'unknown' AND u.settle = 'sent' THEN COALESCE(d.sent_at, u.sent) ELSE d.sent_at END,
        error = CASE WHEN d.status = 'unknown' AND u.settle = 'failed' THEN u.error ELSE d.error END,
        message_id = COALESCE(d.message_id, u.message_id)
      FROM unnest(
        ${sqlArray(list.map((c) => c.row.id))}::bigint[],
        ${ts((c) => c.delivered)}::timestamptz[], ${ts((c) => c.opened)}::timestamptz[], ${ts((c) => c.clicked)}::timestamptz[],
        ${ts((c) => c.bounced)}::timestamptz[], ${ts((c) => c.complained)}::timestamptz[], ${ts((c) => c.unsubscribed)}::timestamptz[],
        ${sqlArray(list.map((c) => c.settle ?? null))}::text[], ${ts((c) => c.sentAt)}::timestamptz[],
        ${sqlArray(list.map((c) => c.messageId ?? null))}::text[], ${sqlArray(list.map((c) => c.error ?? null))}::text[]
      ) AS u(id, delivered, opened, clicked, bounced, complained, unsubscribed, settle, sent, message_id, error)
      WHERE d.id = u.id AND (
        d.delivered_at IS DISTINCT FROM LEAST(d.delivered_at, u.delivered) OR d.opened_at IS DISTINCT FROM LEAST(d.opened_at, u.opened)
        OR d.clicked_at IS DISTINCT FROM LEAST(d.clicked_at, u.clicked) OR d.bounced_at IS DISTINCT FROM LEAST(d.bounced_at, u.bounced)
        OR d.complained_at IS DISTINCT FROM LEAST(d.complained_at, u.complained)
        OR d.unsubscribed_at IS DISTINCT FROM LEAST(d.unsubscribed_at, u.unsubscribed)
        OR (d.status = 'unknown' AND u.settle IS NOT NULL) OR (d.message_id IS NULL AND u.message_id IS NOT NULL))`.execute(trx);
  }

  return { settled, waves: waveList };
}
