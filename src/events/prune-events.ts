import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import { withDbRetry } from '../db/retry.js';

/**
 * Retention (`events_retention`): events older than the cutoff go; the report rollups
 * (campaign_event_counts, campaign_link_counts, campaign_wave_firsts) and the ledger's first-event
 * times stay, so `marketer stats` answers the same for a pruned campaign.
 *
 * On TimescaleDB whole 1-day chunks are dropped (drop_chunks, no row-by-row delete, compressed
 * or not) and a retention policy is kept in step so the server prunes on its own between runs.
 * On plain Postgres rows are deleted in batches through the (campaign_id, time) index, one
 * campaign at a time, so no statement holds locks for long or rescans what it already deleted.
 */

export interface PruneResult {
  engine: 'timescaledb' | 'postgres';
  cutoff: string;
  /** Rows deleted (plain Postgres). */
  deleted: number;
  /** Chunks dropped (TimescaleDB). */
  droppedChunks: number;
}

export interface PruneOptions {
  olderThanDays: number;
  now?: Date;
  batchSize?: number;
  onProgress?: (deleted: number) => void;
}

type Db = Kysely<Database>;

export async function pruneEvents(db: Db, options: PruneOptions): Promise<PruneResult> {
  const now = options.now ?? new Date();
  const cutoff = new Date(now.getTime() - options.olderThanDays * 86_400_000);
  if (await isHypertable(db)) {
    await keepRetentionPolicy(db, options.olderThanDays);
    const dropped = await withDbRetry(() => sql<{ c: string }>`
      SELECT drop_chunks('email_events', older_than => ${cutoff.toISOString()}::timestamptz)::text AS c`.execute(db));
    return { engine: 'timescaledb', cutoff: cutoff.toISOString(), deleted: 0, droppedChunks: dropped.rows.length };
  }
  const batch = options.batchSize ?? 5000;
  let deleted = 0;
  // Distinct campaigns through the index (a loose index scan), not a pass over every event.
  const campaigns = await sql<{ id: number }>`
    WITH RECURSIVE c AS (
      SELECT min(campaign_id) AS id FROM email_events
      UNION ALL
      SELECT (SELECT min(campaign_id) FROM email_events WHERE campaign_id > c.id) FROM c WHERE c.id IS NOT NULL
    ) SELECT id FROM c WHERE id IS NOT NULL`.execute(db);
  const scopes = [
    ...campaigns.rows.map((c) => sql`campaign_id = ${c.id}`),
    // Events of mail marketer did not send: the partial index on unmatched events.
    sql`campaign_id IS NULL AND delivery_id IS NULL`,
  ];
  for (const scope of scopes) {
    for (;;) {
      const r = await withDbRetry(() => sql`
        DELETE FROM email_events WHERE ctid = ANY(ARRAY(
          SELECT ctid FROM email_events WHERE ${scope} AND time < ${cutoff.toISOString()}::timestamptz LIMIT ${batch}))`.execute(db));
      const n = Number(r.numAffectedRows ?? 0);
      deleted += n;
      if (n > 0) options.onProgress?.(deleted);
      if (n < batch) break;
    }
  }
  return { engine: 'postgres', cutoff: cutoff.toISOString(), deleted, droppedChunks: 0 };
}

async function isHypertable(db: Db): Promise<boolean> {
  const ext = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'`.execute(db);
  if (ext.rows[0]!.n === 0) return false;
  const ht = await sql<{ n: number }>`
    SELECT count(*)::int AS n FROM timescaledb_information.hypertables WHERE hypertable_name = 'email_events'`.execute(db);
  return ht.rows[0]!.n > 0;
}

/** A drop_chunks policy with the configured period; replaced when the period changes. */
async function keepRetentionPolicy(db: Db, days: number): Promise<void> {
  const jobs = await sql<{ job_id: number; drop_after: string | null }>`
    SELECT job_id, config->>'drop_after' AS drop_after FROM timescaledb_information.jobs
    WHERE hypertable_name = 'email_events' AND proc_name = 'policy_retention'`.execute(db);
  const wanted = `${days} days`;
  const current = jobs.rows[0];
  if (current && current.drop_after === wanted) return;
  await db.transaction().execute(async (trx) => {
    if (current) await sql`SELECT remove_retention_policy('email_events', if_exists => true)`.execute(trx);
    await sql`SELECT add_retention_policy('email_events', drop_after => ${wanted}::interval)`.execute(trx);
  });
}
