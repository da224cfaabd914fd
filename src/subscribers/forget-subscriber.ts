import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import { withDbRetry } from '../db/retry.js';

/**
 * Erasure (GDPR art. 17): everything marketer holds about a person goes, except what the
 * campaigns' figures are made of, which stays without the identity.
 *
 * - subscribers: the row stays as a tombstone with no personal data (email `forgotten:<id>`,
 *   status `forgotten`), so the ledger's deliveries keep their subscriber and every report keeps
 *   its totals.
 * - deliveries: campaign, wave zone, status and times stay; the SES message id and any error
 *   text go; queued rows are skipped.
 * - email_events: type, time, campaign, delivery and link stay; recipient hash, message id and
 *   stored payload go. Found through the person's deliveries (segment-filtered by campaign, so a
 *   compressed TimescaleDB chunk decompresses only those campaigns' batches) and, for events that
 *   matched no delivery, through the keyed recipient hash.
 * - suppressions: a keyed hash of every requested address, reason `forgotten`, so the address is
 *   never imported or mailed again.
 * - erasures: one audit row with the counts, never who.
 *
 * Updated rows leave dead tuples and index entries behind until VACUUM; forgetAddresses runs
 * one on the tables it touched unless told not to.
 */

export interface ForgetRows {
  subscribers: number;
  deliveries: number;
  events: number;
  suppressions: number;
}

export interface ForgetResult {
  /** Requested addresses that were subscribers and now are not. */
  forgotten: number;
  /** Requested addresses we held no subscriber for (suppressed all the same). */
  not_found: number;
  rows: ForgetRows;
}

export interface ForgetOptions {
  /** VACUUM the touched tables afterwards so no dead tuple keeps the old values (default true). */
  vacuum?: boolean;
}

type Db = Kysely<Database>;

/** Normalised, distinct addresses (trimmed, lower-cased); empty entries dropped. */
export function normaliseAddresses(addresses: string[]): string[] {
  return [...new Set(addresses.map((a) => a.trim().toLowerCase()).filter((a) => a.length > 0))].sort();
}

export async function forgetAddresses(db: Db, addresses: string[], options: ForgetOptions = {}): Promise<ForgetResult> {
  const emails = normaliseAddresses(addresses);
  const result: ForgetResult = { forgotten: 0, not_found: 0, rows: { subscribers: 0, deliveries: 0, events: 0, suppressions: 0 } };
  if (emails.length === 0) return result;
  await withDbRetry(() => db.transaction().execute(async (trx) => {
    const found = await sql<{ id: string }>`
      SELECT id::text AS id FROM subscribers WHERE lower(email) = ANY(${emails}::text[]) AND status <> 'forgotten' ORDER BY id FOR UPDATE`.execute(trx);
    const ids = found.rows.map((r) => r.id);
    result.forgotten = ids.length;
    result.not_found = emails.length - ids.length;
    result.rows = { subscribers: 0, deliveries: 0, events: 0, suppressions: 0 };

    const deliveries = await sql<{ id: string; campaign_id: number }>`
      UPDATE deliveries
      SET message_id = NULL, error = CASE WHEN status = 'queued' THEN 'forgotten' ELSE NULL END,
          status = CASE WHEN status = 'queued' THEN 'skipped' ELSE status END
      WHERE subscriber_id = ANY(${ids}::bigint[])
      RETURNING id::text AS id, campaign_id`.execute(trx);
    result.rows.deliveries = deliveries.rows.length;
    const deliveryIds = deliveries.rows.map((d) => d.id);
    const campaigns = [...new Set(deliveries.rows.map((d) => d.campaign_id))];

    if (deliveryIds.length > 0) {
      const matched = await sql`
        UPDATE email_events SET recipient_hash = NULL, message_id = NULL, payload = NULL
        WHERE campaign_id = ANY(${campaigns}::int[]) AND delivery_id = ANY(${deliveryIds}::bigint[])
          AND (recipient_hash IS NOT NULL OR message_id IS NOT NULL OR payload IS NOT NULL)`.execute(trx);
      result.rows.events += Number(matched.numAffectedRows ?? 0);
    }
    // Events that matched no delivery (or a delivery later erased): by keyed recipient hash,
    // through the partial index on unmatched events.
    const unmatched = await sql`
      UPDATE email_events SET recipient_hash = NULL, message_id = NULL, payload = NULL
      WHERE delivery_id IS NULL AND recipient_hash IN (
        SELECT marketer_address_hash(e) FROM unnest(${emails}::text[]) e
        UNION ALL SELECT marketer_address_hash_previous(e) FROM unnest(${emails}::text[]) e)`.execute(trx);
    result.rows.events += Number(unmatched.numAffectedRows ?? 0);

    const suppressed = await sql`
      INSERT INTO suppressions (email_hash, reason, detail)
      SELECT marketer_address_hash(e), 'forgotten', NULL FROM unnest(${emails}::text[]) e
      ON CONFLICT (email_hash) DO UPDATE SET reason = 'forgotten', detail = NULL`.execute(trx);
    result.rows.suppressions = Number(suppressed.numAffectedRows ?? 0);

    const tombstoned = await sql`
      UPDATE subscribers
      SET email = 'forgotten:' || id, first_name = NULL, last_name = NULL, timezone = 'UTC', status = 'forgotten',
          tags = '{}', attributes = '{}', source = NULL, consent_at = NULL, consent_ip = NULL, consent_text = NULL,
          soft_bounces = 0, updated_at = now()
      WHERE id = ANY(${ids}::bigint[])`.execute(trx);
    result.rows.subscribers = Number(tombstoned.numAffectedRows ?? 0);

    await sql`
      INSERT INTO erasures (requested, forgotten, not_found, rows)
      VALUES (${emails.length}, ${result.forgotten}, ${result.not_found}, ${JSON.stringify(result.rows)}::jsonb)`.execute(trx);
  }));
  if (options.vacuum !== false) await vacuumErased(db);
  return result;
}

/**
 * Reclaim the dead tuples (and their index entries) that still hold the old values. Plain
 * VACUUM takes no lock that blocks reads or writes.
 */
export async function vacuumErased(db: Db): Promise<void> {
  for (const table of ['subscribers', 'deliveries', 'suppressions', 'email_events']) {
    await sql`VACUUM ${sql.table(table)}`.execute(db);
  }
}
