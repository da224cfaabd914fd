/**
 * `consent_at` values, checked in full before they reach Postgres: `Date.parse` accepts
 * 2026-02-30 (as March 2) and +16:00, and Postgres refuses both, so neither can judge alone.
 */

export type ConsentDate =
  /** `value`: a string Postgres reads as exactly this instant; `future`: later than `now`. */
  | { value: string; future: boolean }
  | { problem: string };

const SHAPE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,6})?)?(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i;

// Consent cannot predate e-mail marketing; an earlier year is a typo, and the range keeps
// every accepted value far inside what timestamptz stores (year 0 does not exist there).
const MIN_YEAR = 1900;
// Real zones span -12:00 to +14:00; Postgres itself refuses offsets from ±16:00.
const MAX_OFFSET_MINUTES = 14 * 60;

function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Parse an ISO-8601 date or date-time; one without an offset is UTC. */
export function parseConsentDate(raw: string, now: Date): ConsentDate {
  const m = SHAPE.exec(raw);
  if (!m) return { problem: `consent_at "${raw}" is not an ISO-8601 date` };
  const [, ys, mos, ds, hs = '00', mis = '00', ss = '00', frac = '', zone = 'Z'] = m;
  const year = Number(ys);
  const month = Number(mos);
  const day = Number(ds);
  const hour = Number(hs);
  const minute = Number(mis);
  const second = Number(ss);
  if (year < MIN_YEAR) return { problem: `consent_at "${raw}": year ${ys} is before ${MIN_YEAR}` };
  if (month < 1 || month > 12) return { problem: `consent_at "${raw}": there is no month ${mos}` };
  if (day < 1 || day > daysInMonth(year, month)) return { problem: `consent_at "${raw}": ${ys}-${mos} has no day ${ds}` };
  if (hour > 23 || minute > 59 || second > 59) return { problem: `consent_at "${raw}": ${hs}:${mis}:${ss} is not a time of day` };
  let offset = 0;
  let zoneText = '+00:00';
  if (zone.toUpperCase() !== 'Z') {
    const oh = Number(zone.slice(1, 3));
    const om = zone.length > 3 ? Number(zone.slice(-2)) : 0;
    offset = (zone[0] === '-' ? -1 : 1) * (oh * 60 + om);
    if (om > 59 || Math.abs(offset) > MAX_OFFSET_MINUTES) return { problem: `consent_at "${raw}": offset ${zone} is outside -14:00 to +14:00` };
    zoneText = `${zone[0]}${zone.slice(1, 3)}:${zone.length > 3 ? zone.slice(-2) : '00'}`;
  }
  const ms = Date.UTC(year, month - 1, day, hour, minute, second, Number((frac || '.0').padEnd(4, '0').slice(1, 4))) - offset * 60_000;
  return { value: `${ys}-${mos}-${ds}T${hs}:${mis}:${ss}${frac}${zoneText}`, future: ms > now.getTime() };
}
