import { sql, type RawBuilder } from 'kysely';
import type { CampaignSchedule } from '../campaigns/index.js';

export interface Audience {
  tags: string[];
  excludeTags: string[];
}

/** Subscribers (alias `s`) the campaign's tags select, whatever their status. */
export function matchesAudience(a: Audience): RawBuilder<boolean> {
  const include = a.tags.length > 0 ? sql`s.tags && ${a.tags}::text[]` : sql`true`;
  const exclude = a.excludeTags.length > 0 ? sql`NOT (s.tags && ${a.excludeTags}::text[])` : sql`true`;
  return sql<boolean>`(${include} AND ${exclude})`;
}

/** True for an address in `suppressions` (alias `s` for subscribers). */
export const isSuppressed = sql<boolean>`EXISTS (SELECT 1 FROM suppressions p WHERE p.email_hash IN (marketer_address_hash(s.email), marketer_address_hash_previous(s.email)))`;

/**
 * The UTC instant a subscriber's wave fires, computed in SQL so a million rows plan in one
 * statement: `(date + time) AT TIME ZONE zone` follows the server's IANA rules, including DST
 * gaps and half-hour and 45-minute zones. No `at`: now.
 */
export function dueAtExpression(schedule: CampaignSchedule, now: Date): RawBuilder<Date> {
  if (!schedule.at) return sql<Date>`${now}::timestamptz`;
  const local = sql`(${schedule.at.date}::date + ${schedule.at.time}::time)`;
  return schedule.timezone === 'subscriber'
    ? sql<Date>`(${local} AT TIME ZONE s.timezone)`
    : sql<Date>`(${local} AT TIME ZONE ${schedule.timezone})`;
}

/** The zone a subscriber's wave is computed in (stored on the delivery for per-wave reports). */
export function waveZoneExpression(schedule: CampaignSchedule): RawBuilder<string> {
  return schedule.timezone === 'subscriber' || !schedule.at ? sql<string>`s.timezone` : sql<string>`${schedule.timezone}::text`;
}
