import { sql, type RawBuilder } from 'kysely';

/**
 * Local times for reports, from Postgres's zone rules rather than the process's: the first
 * `Intl.DateTimeFormat` (which luxon builds for any named zone) loads ICU's date data, 30–70 ms
 * of CPU, where `marketer stats` spends ~20 ms on its queries. Every zone that reaches these
 * queries was accepted by the same server before (the viewer's zone by the timeline's
 * date_trunc, a wave's zone by the enqueue that computed its due time), so they cannot fail on it.
 */

/** `at` as wall-clock text in `zone`: `2026-12-01T08:00:00`. */
export const localTextSql = (at: RawBuilder<unknown>, zone: RawBuilder<unknown> | string): RawBuilder<string> =>
  sql<string>`to_char(${at} AT TIME ZONE ${zone}, 'YYYY-MM-DD"T"HH24:MI:SS')`;

/** How far `zone` is ahead of UTC at `at`, in whole minutes (-60 for America/… in winter, 330 for India). */
export const offsetMinutesSql = (at: RawBuilder<unknown>, zone: RawBuilder<unknown> | string): RawBuilder<number> =>
  sql<number>`(extract(epoch FROM (${at} AT TIME ZONE ${zone}) - (${at} AT TIME ZONE 'UTC')) / 60)::int`;

/**
 * ISO 8601 with the offset, as luxon's `toISO({ suppressMilliseconds: true })` writes it for the
 * same zone: `Z` for the zone named UTC or GMT (luxon takes those as the fixed UTC offset), else
 * `±HH:MM`, so `Europe/London` in winter is `+00:00`.
 */
export function isoWithOffset(localText: string, offsetMinutes: number, zone: string): string {
  if (/^(?:utc|gmt)$/i.test(zone)) return `${localText}Z`;
  const abs = Math.abs(offsetMinutes);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${localText}${offsetMinutes < 0 ? '-' : '+'}${hh}:${mm}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];

/** The wall-clock fields of an ISO local time (`2026-12-01T08:00:00+01:00`), as written. */
export function localParts(iso: string): { year: number; month: number; day: number; hour: number; minute: number } {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})/.exec(iso);
  if (!m) throw new Error(`not an ISO local time: ${iso}`);
  return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]), hour: Number(m[4]), minute: Number(m[5]) };
}

/** `Dec 01 08:00` (luxon's `LLL dd HH:mm` in English). */
export function monthDayTime(iso: string): string {
  const p = localParts(iso);
  return `${MONTHS[p.month - 1]} ${String(p.day).padStart(2, '0')} ${String(p.hour).padStart(2, '0')}:${String(p.minute).padStart(2, '0')}`;
}

/** `Tue Dec 01` (luxon's `ccc LLL dd` in English). */
export function weekdayMonthDay(iso: string): string {
  const p = localParts(iso);
  // The weekday of a calendar date is the same in every zone: ask UTC.
  const weekday = new Date(Date.UTC(p.year, p.month - 1, p.day)).getUTCDay();
  return `${WEEKDAYS[weekday]} ${MONTHS[p.month - 1]} ${String(p.day).padStart(2, '0')}`;
}
