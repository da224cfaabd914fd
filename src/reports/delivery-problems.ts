import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import { ADDRESS_PATTERN } from '../error-groups.js';

export interface ProblemReason {
  /** Bounce type/subtype, complaint feedback type, or "failed". */
  kind: string;
  /** What the receiving server (or SES) said, with addresses replaced by `<address>`. */
  reason: string;
  count: number;
}

export interface DeliveryProblems {
  bounces: ProblemReason[];
  complaints: ProblemReason[];
  /** Deliveries marketer could not hand to SES, by their recorded error. */
  failures: ProblemReason[];
}

// Diagnostic codes often quote the recipient ("550 5.1.1 <ann@example.com>: no such user");
// a report is shared more widely than the ledger, so addresses never reach it.
const MAX_REASON = 200;

/**
 * Why mail bounced, drew complaints or failed, grouped by reason, most frequent first (at most
 * `limit` of each). Reads the stored SES payloads of the campaign's Bounce and Complaint events
 * (the campaign_time index) and the failed rows of the ledger.
 */
export async function deliveryProblems(db: Kysely<Database>, campaignId: number, limit = 10): Promise<DeliveryProblems> {
  const bounces = await sql<{ kind: string; reason: string; n: string }>`
    SELECT coalesce(bounce_type, 'Undetermined') || ' / ' || coalesce(bounce_subtype, 'Undetermined') AS kind,
      left(regexp_replace(coalesce(payload #>> '{bouncedRecipients,0,diagnosticCode}', payload #>> '{bouncedRecipients,0,status}', 'no diagnostic given'),
        ${ADDRESS_PATTERN}, '<address>', 'g'), ${MAX_REASON}) AS reason,
      count(*) AS n
    FROM email_events WHERE campaign_id = ${campaignId} AND event_type = 'Bounce'
    GROUP BY 1, 2 ORDER BY n DESC, kind, reason LIMIT ${limit}`.execute(db);
  const complaints = await sql<{ kind: string; reason: string; n: string }>`
    SELECT coalesce(payload ->> 'complaintFeedbackType', 'not given') AS kind,
      coalesce(payload ->> 'complaintSubType', '') AS reason, count(*) AS n
    FROM email_events WHERE campaign_id = ${campaignId} AND event_type = 'Complaint'
    GROUP BY 1, 2 ORDER BY n DESC, kind, reason LIMIT ${limit}`.execute(db);
  const failures = await sql<{ reason: string; n: string }>`
    SELECT left(regexp_replace(coalesce(error, 'no error recorded'), ${ADDRESS_PATTERN}, '<address>', 'g'), ${MAX_REASON}) AS reason, count(*) AS n
    FROM deliveries WHERE campaign_id = ${campaignId} AND status = 'failed'
    GROUP BY 1 ORDER BY n DESC, reason LIMIT ${limit}`.execute(db);
  return {
    bounces: bounces.rows.map((r) => ({ kind: r.kind, reason: r.reason, count: Number(r.n) })),
    complaints: complaints.rows.map((r) => ({ kind: r.kind, reason: r.reason, count: Number(r.n) })),
    failures: failures.rows.map((r) => ({ kind: 'failed', reason: r.reason, count: Number(r.n) })),
  };
}
