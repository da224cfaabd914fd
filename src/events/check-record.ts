/**
 * What makes a record unstorable, found before it reaches Postgres: one poison record must cost
 * one record, never the transaction of its batch (a 500 to SNS or an undeleted SQS message
 * would bring the whole batch back forever).
 */

/**
 * The largest record stored, counted in characters of its strings and keys. SNS and SQS carry
 * at most 256 KB, so SES never sends more; a larger record is malformed (not stored trimmed:
 * a cut record would be a different, wrong event).
 */
export const MAX_RECORD_CHARS = 256 * 1024;

// String.prototype.isWellFormed is in Node 20 (ES2024), not yet in the TypeScript lib used here.
type WellFormed = string & { isWellFormed(): boolean };

// Deeper than any SES record; bounds the walk below.
const MAX_DEPTH = 32;

/**
 * Whether JSON text is known, before it is parsed, to hold nothing unstorableRecord refuses: no
 * \u escape (JSON.parse can only make U+0000 or a lone surrogate from one: a raw control
 * character is not JSON, and the UTF-8 decoder turns broken bytes into U+FFFD), no more
 * characters than a record may have, and at most MAX_DEPTH brackets (so no deeper nesting).
 * The check is a few native string searches; the walk it saves visits every key and string.
 */
export function plainRecordText(text: string): boolean {
  if (text.length > MAX_RECORD_CHARS || text.includes('\\u')) return false;
  let brackets = 0;
  for (let i = text.indexOf('{'); i !== -1; i = text.indexOf('{', i + 1)) if (++brackets > MAX_DEPTH) return false;
  for (let i = text.indexOf('['); i !== -1; i = text.indexOf('[', i + 1)) if (++brackets > MAX_DEPTH) return false;
  return true;
}

/**
 * Why a parsed JSON record cannot be stored (jsonb refuses U+0000 and lone UTF-16 surrogates,
 * and text columns refuse U+0000), or undefined. One walk over the record's keys and strings.
 */
export function unstorableRecord(record: unknown): string | undefined {
  let chars = 0;
  let problem: string | undefined;
  // Filled on the way back out of a failed walk, so a clean record builds no path strings.
  const where: string[] = [];
  const checkString = (s: string): boolean => {
    chars += s.length;
    if (s.includes('\u0000')) problem = 'NUL character (\\u0000)';
    else if (!(s as WellFormed).isWellFormed()) problem = 'invalid text (a lone UTF-16 surrogate)';
    return problem === undefined;
  };
  const walk = (v: unknown, depth: number): boolean => {
    if (typeof v === 'string') return checkString(v);
    if (typeof v !== 'object' || v === null) return true;
    if (depth > MAX_DEPTH) {
      problem = `nested deeper than ${MAX_DEPTH} levels`;
      return false;
    }
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i += 1) {
        if (!walk(v[i], depth + 1)) {
          where.push(`[${i}]`);
          return false;
        }
      }
    } else {
      const o = v as Record<string, unknown>;
      for (const k in o) {
        if (!checkString(k)) {
          where.push('<key>');
          return false;
        }
        if (!walk(o[k], depth + 1)) {
          where.push(`.${k.slice(0, 40)}`);
          return false;
        }
      }
    }
    if (chars > MAX_RECORD_CHARS) {
      problem = `record larger than ${MAX_RECORD_CHARS / 1024} KB`;
      return false;
    }
    return true;
  };
  if (walk(record, 0)) return undefined;
  if (problem!.startsWith('record larger') || problem!.startsWith('nested')) return problem;
  const path = where.reverse().join('').replace(/^\./, '');
  if (path.endsWith('<key>')) return `${problem} in a key of ${path.slice(0, -5).replace(/\.$/, '') || 'the record'}`;
  return `${problem} in ${path || 'the record'}`;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The number written in v[from, to) in decimal digits, or -1 if any of them is not a digit. */
function digitsAt(v: string, from: number, to: number): number {
  let x = 0;
  for (let i = from; i < to; i += 1) {
    const d = v.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    x = x * 10 + d;
  }
  return x;
}

/**
 * The time of `YYYY-MM-DDTHH:MM:SS.sssZ`, the form SES writes, read digit by digit (a regular
 * expression, the Date parser and a calendar check cost more, for every event); undefined for
 * any other form or an out-of-range field, which the general path below then reads or refuses.
 * The form has one spelling per instant, the one `Date#toISOString` writes.
 */
function sesTime(v: string): number | undefined {
  if (v.length !== 24 || v.charCodeAt(4) !== 45 || v.charCodeAt(7) !== 45 || v.charCodeAt(10) !== 84 || v.charCodeAt(13) !== 58
    || v.charCodeAt(16) !== 58 || v.charCodeAt(19) !== 46 || v.charCodeAt(23) !== 90) return undefined;
  const y = digitsAt(v, 0, 4), mo = digitsAt(v, 5, 7), d = digitsAt(v, 8, 10), h = digitsAt(v, 11, 13);
  const mi = digitsAt(v, 14, 16), s = digitsAt(v, 17, 19), ms = digitsAt(v, 20, 23);
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59 || ms < 0) return undefined;
  const leap = mo === 2 && (y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0));
  if (d > DAYS[mo - 1]! + (leap ? 1 : 0)) return undefined;
  return Date.UTC(y, mo - 1, d, h, mi, s, ms);
}

// SES timestamps are ISO 8601 in UTC with milliseconds; an offset is accepted too. A bare
// number ("1"), which Date would read as the year 2001, is not.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/i;
const EARLIEST = Date.UTC(2000, 0, 1);
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * An event time in epoch milliseconds with its text as `Date#toISOString` writes it (how the
 * ingest sends it to Postgres), or the reason it is not one: not ISO 8601, before 2000, or over a
 * day ahead. SES's own form is read once, and its text is kept: it is already that text.
 */
export function readEventTime(v: unknown, now: number): { timeMs: number; iso: string } | string {
  const fast = typeof v === 'string' ? sesTime(v) : undefined;
  if (fast !== undefined && fast >= EARLIEST && fast <= now + DAY_MS) return { timeMs: fast, iso: v as string };
  if (typeof v !== 'string' || !ISO_TIME.test(v)) return `timestamp ${JSON.stringify(v)?.slice(0, 40) ?? 'missing'} is not an ISO 8601 time`;
  const d = new Date(v);
  const ms = d.getTime();
  // Date rolls 2026-02-30 over to March 2: the calendar date must exist as written.
  const [y, m, day] = v.slice(0, 10).split('-').map(Number) as [number, number, number];
  const calendar = new Date(Date.UTC(y, m - 1, day));
  if (Number.isNaN(ms) || m < 1 || m > 12 || calendar.getUTCDate() !== day) return `timestamp "${v}" is not a real time`;
  if (ms < EARLIEST) return `timestamp "${v}" is before 2000`;
  if (ms > now + DAY_MS) return `timestamp "${v}" is more than a day in the future`;
  return { timeMs: ms, iso: d.toISOString() };
}
