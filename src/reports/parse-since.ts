import { DateTime } from 'luxon';

// Reports start from e-mail's own era; a year outside this is a typo, and Postgres refuses
// some of what Date and luxon accept (year 0, year -10000).
const MIN_YEAR = 1970;
const MAX_YEAR = 9999;

/**
 * The start of a report window: `2026-12-01`, `2026-12-01T08:00` (in `tz` when it has no
 * offset), an ISO time with an offset, or a look-back like `24h`, `7d`. Undefined when it is
 * none of these or falls outside 1970–9999.
 */
export function parseSinceTime(value: string, tz: string, now = new Date()): Date | undefined {
  const rel = /^(\d{1,6})\s*([mhd])$/.exec(value.trim());
  if (rel) {
    const ms = { m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 'm' | 'h' | 'd'];
    return new Date(now.getTime() - Number(rel[1]) * ms);
  }
  const dt = DateTime.fromISO(value.trim(), { zone: tz });
  if (!dt.isValid || dt.year < MIN_YEAR || dt.year > MAX_YEAR) return undefined;
  return dt.toJSDate();
}
