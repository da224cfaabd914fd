import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/types.js';

type Db = Kysely<Database> | Transaction<Database>;

export interface ClaimedDelivery {
  id: string;
  campaign_id: number;
  /** Times this row has been claimed, this claim included. */
  attempts: number;
  subscriber_id: string;
  due_at: Date;
  email: string;
  first_name: string | null;
  last_name: string | null;
  timezone: string;
  attributes: Record<string, unknown>;
  /** Unsubscribed, bounced, complained or suppressed since enqueue: must not be mailed. */
  suppressed: boolean;
  /** The A/B test variant this person gets (fixed before the claim); null without a test. */
  variant: string | null;
}

/**
 * Claim up to `limit` due deliveries of running campaigns for `worker`, in due order.
 *
 * One statement: for each running campaign a LATERAL subquery picks its earliest due rows
 * FOR UPDATE SKIP LOCKED (so concurrent workers each get different rows without waiting on each
 * other), and the UPDATE marks them `sending` with a lease. Walking the index
 * (campaign_id, status, due_at) from ('queued', earliest) per campaign means a paused campaign's queue is
 * never scanned; a single due_at index read and discarded every row of a paused campaign that
 * came due earlier, on every claim. Rows one campaign locks beyond the outer LIMIT stay queued
 * and are unlocked at commit.
 *
 * Suppression is re-checked here, after enqueue: a subscriber who unsubscribed or bounced in
 * between comes back flagged and is skipped, never sent.
 */
export async function claimDeliveries(
  db: Db,
  o: { worker: string; limit: number; now: Date; leaseSeconds: number; campaignId?: number },
): Promise<ClaimedDelivery[]> {
  const campaignFilter = o.campaignId === undefined ? sql`` : sql`AND c.id = ${o.campaignId}`;
  const { rows } = await sql<ClaimedDelivery>`
    WITH picked AS (
      SELECT q.id FROM campaigns c
      CROSS JOIN LATERAL (
        SELECT d.id, d.due_at FROM deliveries d
        WHERE d.campaign_id = c.id AND d.status = 'queued' AND d.due_at <= ${o.now}
          -- An A/B test's rest waits until the winner is written on it (experiments/).
          AND (d.in_test IS NOT FALSE OR d.variant IS NOT NULL)
        ORDER BY d.due_at
        LIMIT ${o.limit}
        FOR UPDATE OF d SKIP LOCKED
      ) q
      WHERE c.status = 'running' ${campaignFilter}
      ORDER BY q.due_at
      LIMIT ${o.limit}
    ), claimed AS (
      UPDATE deliveries d
      SET status = 'sending', claimed_by = ${o.worker}, claimed_at = now(), attempted_at = NULL,
          lease_until = now() + make_interval(secs => ${o.leaseSeconds}), attempts = d.attempts + 1
      FROM picked WHERE d.id = picked.id
      RETURNING d.id, d.campaign_id, d.subscriber_id, d.due_at, d.attempts, d.variant
    )
    SELECT claimed.id, claimed.campaign_id, claimed.subscriber_id, claimed.due_at, claimed.attempts, claimed.variant,
           s.email, s.first_name, s.last_name, s.timezone, s.attributes,
           (s.status <> 'active' OR EXISTS (
              SELECT 1 FROM suppressions p WHERE p.email_hash IN (marketer_address_hash(s.email), marketer_address_hash_previous(s.email)))) AS suppressed
    FROM claimed JOIN subscribers s ON s.id = claimed.subscriber_id
    ORDER BY claimed.due_at`.execute(db);
  return rows;
}

/**
 * Mark rows as about to leave for SES, in one statement, just before their requests go out.
 * Returns the ids still held by this worker: a row whose lease lapsed (and was recovered by
 * someone else) must not be sent.
 */
export async function markAttempted(db: Db, worker: string, ids: string[]): Promise<Set<string>> {
  const { rows } = await sql<{ id: string }>`
    UPDATE deliveries SET attempted_at = now()
    WHERE id = ANY(${ids}::bigint[]) AND claimed_by = ${worker} AND status = 'sending'
    RETURNING id`.execute(db);
  return new Set(rows.map((r) => r.id));
}

export type DeliveryResult =
  | { id: string; status: 'sent'; messageId: string; at: Date }
  | { id: string; status: 'failed' | 'unknown' | 'skipped'; error: string }
  /** Back to the queue, due again after `retryAfterSeconds` (0: at once). */
  | { id: string; status: 'queued'; error: string | null; retryAfterSeconds?: number };

/**
 * Record outcomes in one statement, only on rows this worker still holds: after a lapsed lease
 * another worker may have claimed the row, and our stale `queued` or `failed` must not
 * overwrite its claim. A `sent` result also applies to a row already moved to `unknown` by
 * lease recovery: we know better.
 */
export async function recordResults(db: Db, worker: string, results: DeliveryResult[]): Promise<void> {
  if (results.length === 0) return;
  const ids = results.map((r) => r.id);
  const statuses = results.map((r) => r.status);
  const messageIds = results.map((r) => (r.status === 'sent' ? r.messageId : null));
  const sentAt = results.map((r) => (r.status === 'sent' ? r.at.toISOString() : null));
  const errors = results.map((r) => (r.status === 'sent' ? null : r.error));
  const delays = results.map((r) => (r.status === 'queued' ? r.retryAfterSeconds ?? 0 : 0));
  await sql`
    UPDATE deliveries d
    SET status = v.status,
        message_id = coalesce(v.message_id, d.message_id),
        sent_at = coalesce(v.sent_at, d.sent_at),
        error = v.error,
        claimed_by = NULL, lease_until = NULL,
        attempted_at = CASE WHEN v.status = 'queued' THEN NULL ELSE d.attempted_at END,
        due_at = CASE WHEN v.status = 'queued' AND v.delay > 0
                      THEN greatest(d.due_at, now() + make_interval(secs => v.delay)) ELSE d.due_at END
    FROM unnest(${ids}::bigint[], ${statuses}::text[], ${messageIds}::text[], ${sentAt}::timestamptz[], ${errors}::text[], ${delays}::int[])
         AS v(id, status, message_id, sent_at, error, delay)
    WHERE d.id = v.id
      AND ((d.status = 'sending' AND d.claimed_by = ${worker}) OR (v.status = 'sent' AND d.status IN ('sending', 'unknown')))`.execute(db);
}

/** Keep this worker's claims alive while it works. */
export async function renewLeases(db: Db, worker: string, leaseSeconds: number): Promise<number> {
  const r = await sql`
    UPDATE deliveries SET lease_until = now() + make_interval(secs => ${leaseSeconds})
    WHERE status = 'sending' AND claimed_by = ${worker}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/**
 * Rows whose worker stopped renewing its lease (crashed, killed, lost its connection): back to
 * the queue if the request never left, `unknown` if it may have (SES has no idempotency key, so
 * only the SES Send event can settle those).
 */
export async function recoverExpiredLeases(db: Db): Promise<{ requeued: number; unknown: number }> {
  const { rows } = await sql<{ status: string; n: number }>`
    WITH lapsed AS (
      UPDATE deliveries
      SET status = CASE WHEN attempted_at IS NULL THEN 'queued' ELSE 'unknown' END,
          error = CASE WHEN attempted_at IS NULL THEN error
                       ELSE 'worker stopped during the send; outcome unknown until SES reports it' END,
          claimed_by = NULL, lease_until = NULL
      WHERE status = 'sending' AND lease_until < now()
      RETURNING status
    ) SELECT status, count(*)::int AS n FROM lapsed GROUP BY status`.execute(db);
  return {
    requeued: rows.find((r) => r.status === 'queued')?.n ?? 0,
    unknown: rows.find((r) => r.status === 'unknown')?.n ?? 0,
  };
}

/** Give back rows this worker claimed but never attempted (on stop or interrupt). */
export async function releaseUnattempted(db: Db, worker: string): Promise<number> {
  const r = await sql`
    UPDATE deliveries SET status = 'queued', claimed_by = NULL, lease_until = NULL, attempts = greatest(attempts - 1, 0)
    WHERE status = 'sending' AND claimed_by = ${worker} AND attempted_at IS NULL`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/**
 * Waves that passed more than late_grace ago, in campaigns with `late: skip`, are skipped (and
 * counted), never silently dropped. `late: send` campaigns send them late instead.
 */
export async function skipLateDeliveries(db: Db, now: Date, campaignId?: number): Promise<number> {
  const campaignFilter = campaignId === undefined ? sql`` : sql`AND d.campaign_id = ${campaignId}`;
  const r = await sql`
    UPDATE deliveries d SET status = 'skipped', error = 'late: the wave passed more than late_grace ago'
    FROM campaigns c
    WHERE c.id = d.campaign_id AND c.status = 'running' AND c.late_policy = 'skip'
      AND d.status = 'queued' AND d.due_at < ${now}::timestamptz - c.late_grace ${campaignFilter}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** The earliest queued delivery of a running campaign, for sleeping until the next wave. */
export async function nextDueAt(db: Db, campaignId?: number): Promise<Date | undefined> {
  const campaignFilter = campaignId === undefined ? sql`` : sql`AND c.id = ${campaignId}`;
  const { rows } = await sql<{ due_at: Date | null }>`
    SELECT min(q.due_at) AS due_at FROM campaigns c
    CROSS JOIN LATERAL (SELECT d.due_at FROM deliveries d WHERE d.campaign_id = c.id AND d.status = 'queued' ORDER BY d.due_at LIMIT 1) q
    WHERE c.status = 'running' ${campaignFilter}`.execute(db);
  return rows[0]?.due_at ?? undefined;
}

/** When the first of these rows, if any is still queued in a running campaign, comes due. */
export async function nextRetryDue(db: Db, ids: string[]): Promise<Date | undefined> {
  const { rows } = await sql<{ due_at: Date | null }>`
    SELECT min(d.due_at) AS due_at FROM deliveries d JOIN campaigns c ON c.id = d.campaign_id
    WHERE d.id = ANY(${ids}::bigint[]) AND d.status = 'queued' AND c.status = 'running'`.execute(db);
  return rows[0]?.due_at ?? undefined;
}

/** Queued deliveries of running campaigns that are due (e.g. held back by the warm-up cap). */
export async function dueQueued(db: Db, now: Date, campaignId?: number): Promise<number> {
  const campaignFilter = campaignId === undefined ? sql`` : sql`AND c.id = ${campaignId}`;
  const { rows } = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM campaigns c JOIN deliveries d ON d.campaign_id = c.id
    WHERE c.status = 'running' AND d.status = 'queued' AND d.due_at <= ${now} ${campaignFilter}`.execute(db);
  return rows[0]?.n ?? 0;
}

/** Whether any delivery (of running campaigns) is still queued or in flight. */
export async function hasPendingWork(db: Db, campaignId?: number): Promise<boolean> {
  const campaignFilter = campaignId === undefined ? sql`` : sql`AND c.id = ${campaignId}`;
  // Two EXISTS, each answered by its own partial index, rather than one status IN (…) that
  // would read the whole ledger.
  const { rows } = await sql<{ pending: boolean }>`
    SELECT EXISTS (
      SELECT 1 FROM campaigns c WHERE c.status = 'running' ${campaignFilter}
        AND (EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND d.status = 'queued')
             OR EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND d.status = 'sending'))) AS pending`.execute(db);
  return rows[0]?.pending ?? false;
}

/** A campaign is done only when nothing is queued or in flight. */
export async function finishCampaigns(db: Db, campaignIds: number[]): Promise<number[]> {
  if (campaignIds.length === 0) return [];
  const { rows } = await sql<{ id: number }>`
    UPDATE campaigns c SET status = 'done', finished_at = now(), updated_at = now()
    WHERE c.id = ANY(${campaignIds}::int[]) AND c.status = 'running'
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = c.id AND d.status IN ('queued', 'sending'))
    RETURNING c.id`.execute(db);
  return rows.map((r) => r.id);
}

export async function pauseCampaign(db: Db, campaignId: number, reason: string): Promise<void> {
  await db.updateTable('campaigns').set({ status: 'paused', paused_reason: reason, updated_at: new Date() })
    .where('id', '=', campaignId).where('status', '=', 'running').execute();
}

export interface CampaignCounts {
  campaign: number;
  enqueued: number;
  sent: number;
  failed: number;
  unknown: number;
  queued: number;
  sending: number;
  skipped: number;
  status: string | null;
}

export async function campaignCounts(db: Db, campaignId: number): Promise<CampaignCounts> {
  const { rows } = await sql<{ status: string; n: number }>`
    SELECT status, count(*)::int AS n FROM deliveries WHERE campaign_id = ${campaignId} GROUP BY status`.execute(db);
  const n = (s: string) => rows.find((r) => r.status === s)?.n ?? 0;
  const campaign = await db.selectFrom('campaigns').select('status').where('id', '=', campaignId).executeTakeFirst();
  return {
    status: campaign?.status ?? null,
    campaign: campaignId,
    enqueued: rows.reduce((a, r) => a + r.n, 0),
    sent: n('sent'), failed: n('failed'), unknown: n('unknown'), queued: n('queued'), sending: n('sending'), skipped: n('skipped'),
  };
}
