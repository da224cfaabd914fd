import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.js';

export interface HourlyEvents {
  /** Start of the hour, UTC. */
  hour: Date;
  opens: number;
  clicks: number;
}

export interface HourlyWindow {
  /** Inclusive; rounded down to the hour. */
  from: Date;
  /** Exclusive. */
  to: Date;
}

const HOUR = 3_600_000;

/** True where schema-timescale.sql made the continuous aggregate `email_events_hourly`. */
export async function hasHourlyAggregate(db: Kysely<Database>): Promise<boolean> {
  const r = await sql<{ present: boolean }>`SELECT to_regclass('email_events_hourly') IS NOT NULL AS present`.execute(db);
  return Boolean(r.rows[0]?.present);
}

/**
 * Opens and clicks per UTC hour of one campaign inside `window`, every hour present (zeros for
 * quiet ones), in order.
 *
 * On TimescaleDB this reads the continuous aggregate `email_events_hourly`. Its policy refreshes
 * only the last 30 days, so an event ingested late for an older hour would be missing from it
 * for ever; the window is refreshed first, which rematerialises only the hours TimescaleDB has
 * marked invalid (a no-op when nothing arrived late), and the view is real-time
 * (materialized_only = false) so the newest, not yet materialised hour is read from the events.
 * On plain Postgres the same buckets come from `email_events` itself (indexed by campaign, time).
 */
export async function hourlyEvents(db: Kysely<Database>, campaignId: number, window: HourlyWindow): Promise<HourlyEvents[]> {
  const from = new Date(Math.floor(window.from.getTime() / HOUR) * HOUR);
  const to = new Date(Math.ceil(window.to.getTime() / HOUR) * HOUR);
  if (to <= from) return [];
  let rows: { hour: Date; opens: string | null; clicks: string | null }[];
  if (await hasHourlyAggregate(db)) {
    // CALL cannot run inside a transaction block; reports read outside one.
    await sql`CALL refresh_continuous_aggregate('email_events_hourly', ${from.toISOString()}::timestamptz, ${to.toISOString()}::timestamptz)`.execute(db);
    rows = (
      await sql<{ hour: Date; opens: string | null; clicks: string | null }>`
        SELECT bucket AS hour,
          sum(events) FILTER (WHERE event_type = 'Open') AS opens, sum(events) FILTER (WHERE event_type = 'Click') AS clicks
        FROM email_events_hourly
        WHERE campaign_id = ${campaignId} AND event_type IN ('Open', 'Click')
          AND bucket >= ${from.toISOString()}::timestamptz AND bucket < ${to.toISOString()}::timestamptz
        GROUP BY bucket ORDER BY bucket`.execute(db)
    ).rows;
  } else {
    rows = (
      await sql<{ hour: Date; opens: string | null; clicks: string | null }>`
        SELECT date_trunc('hour', time, 'UTC') AS hour,
          count(*) FILTER (WHERE event_type = 'Open') AS opens, count(*) FILTER (WHERE event_type = 'Click') AS clicks
        FROM email_events
        WHERE campaign_id = ${campaignId} AND event_type IN ('Open', 'Click')
          AND time >= ${from.toISOString()}::timestamptz AND time < ${to.toISOString()}::timestamptz
        GROUP BY 1 ORDER BY 1`.execute(db)
    ).rows;
  }
  const byHour = new Map(rows.map((r) => [new Date(r.hour).getTime(), r]));
  const out: HourlyEvents[] = [];
  for (let t = from.getTime(); t < to.getTime(); t += HOUR) {
    const r = byHour.get(t);
    out.push({ hour: new Date(t), opens: Number(r?.opens ?? 0), clicks: Number(r?.clicks ?? 0) });
  }
  return out;
}
