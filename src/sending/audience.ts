import { sql, type RawBuilder } from 'kysely';
import { audienceExpression } from '../audience/compile-conditions.js';
import type { AudienceSpec } from '../audience/types.js';
import type { CampaignSchedule } from '../campaigns/index.js';

/**
 * Subscribers (alias `s`) the campaign's audience selects, whatever their status: tags, the
 * segment's and the campaign's conditions, and (unless `sunset: false`) sunsetting. One
 * expression, parameterised throughout (src/audience/compile-conditions.ts).
 */
export function matchesAudience(a: AudienceSpec, o: { sunset?: boolean } = {}): RawBuilder<boolean> {
  return audienceExpression(a, o);
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
