import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../../db/types.js';

/**
 * Warm-up: a new sender's daily volume grows from `start` to `target` over `days`, counted from
 * `since` (a UTC date). Mailbox providers judge a new domain or IP by its first weeks; a cold
 * sender that mails its whole list on day one looks like a spammer and lands in spam or gets
 * its account reviewed. The cap is shared by every campaign and every worker: one counter row
 * per UTC day in Postgres (warmup_days), taken in the same transaction as the claim, so two
 * workers can never both take the last hundred of a day.
 */
export interface WarmupSchedule {
  start: number;
  target: number;
  days: number;
  /** First day of the warm-up, YYYY-MM-DD (UTC). */
  since: string;
}

const DAY_MS = 86_400_000;

/** The UTC date of an instant, YYYY-MM-DD. */
export function utcDay(at: Date): string {
  return at.toISOString().slice(0, 10);
}

/** Start of the next UTC day after `at`. */
export function nextUtcDay(at: Date): Date {
  return new Date(Math.floor(at.getTime() / DAY_MS) * DAY_MS + DAY_MS);
}

/**
 * The cap of a UTC day: `start` on the first day, growing by the same factor each day to reach
 * `target` on day `days` (geometric, as warm-up plans are: 500, 650, 850, … for 500 → 20,000
 * over 14 days), and `target` from then on. Before `since`, `start`.
 */
export function dailyCap(w: WarmupSchedule, day: string): number {
  const n = Math.round((Date.parse(`${day}T00:00:00Z`) - Date.parse(`${w.since}T00:00:00Z`)) / DAY_MS);
  if (n <= 0) return w.start;
  if (n >= w.days || w.target <= w.start) return Math.max(w.start, w.target);
  return Math.round(w.start * (w.target / w.start) ** (n / w.days));
}

type Db = Kysely<Database> | Transaction<Database>;

export interface CappedClaim<T> {
  rows: T[];
  day: string;
  cap: number;
  /** Claimed today, this claim included. */
  used: number;
  /** Today's cap is reached: what is due waits for tomorrow. */
  capped: boolean;
}

/**
 * Claim at most what is left of today's cap, and count what was claimed, in one transaction:
 * the day's row is locked first, so concurrent claims queue on it for the few milliseconds a
 * claim takes.
 */
export async function claimUnderCap<T>(db: Kysely<Database>, w: WarmupSchedule, now: Date, limit: number, claim: (trx: Transaction<Database>, limit: number) => Promise<T[]>): Promise<CappedClaim<T>> {
  const day = utcDay(now);
  const cap = dailyCap(w, day);
  return db.transaction().execute(async (trx) => {
    await sql`INSERT INTO warmup_days (day, cap, used) VALUES (${day}::date, ${cap}, 0) ON CONFLICT (day) DO NOTHING`.execute(trx);
    const { rows: [row] } = await sql<{ used: number }>`SELECT used FROM warmup_days WHERE day = ${day}::date FOR UPDATE`.execute(trx);
    const used = row?.used ?? 0;
    const left = Math.max(0, cap - used);
    if (left === 0) return { rows: [], day, cap, used, capped: true };
    const rows = await claim(trx, Math.min(limit, left));
    if (rows.length > 0) {
      await sql`UPDATE warmup_days SET used = used + ${rows.length}, cap = ${cap} WHERE day = ${day}::date`.execute(trx);
    }
    return { rows, day, cap, used: used + rows.length, capped: used + rows.length >= cap };
  });
}

/** Rows claimed but not sent (given back to the queue, or skipped) do not count toward the day. */
export async function giveBack(db: Db, day: string, n: number): Promise<void> {
  if (n <= 0) return;
  await sql`UPDATE warmup_days SET used = greatest(0, used - ${n}) WHERE day = ${day}::date`.execute(db);
}

/** Today's counter, if any worker has claimed under a warm-up cap today. */
export async function warmupDay(db: Db, day: string): Promise<{ cap: number; used: number } | undefined> {
  const { rows } = await sql<{ cap: number; used: number }>`SELECT cap, used FROM warmup_days WHERE day = ${day}::date`.execute(db);
  return rows[0];
}

export interface SpillDay {
  day: string;
  cap: number;
  sends: number;
}

/**
 * How waves spill over days under the cap: each day sends what is due, up to that day's cap
 * (less what was already claimed today); the rest waits for the next day. For `plan`.
 */
export function spillOverDays(waves: { fireAt: Date; count: number }[], w: WarmupSchedule, now: Date, usedToday: number): SpillDay[] {
  const sorted = [...waves].filter((x) => x.count > 0).sort((a, b) => a.fireAt.getTime() - b.fireAt.getTime());
  const days: SpillDay[] = [];
  let waiting = 0;
  let next = 0;
  let day = new Date(Math.max(now.getTime(), sorted[0]?.fireAt.getTime() ?? now.getTime()));
  day = new Date(Math.floor(day.getTime() / DAY_MS) * DAY_MS);
  while (next < sorted.length || waiting > 0) {
    const end = day.getTime() + DAY_MS;
    while (next < sorted.length && sorted[next]!.fireAt.getTime() < end) waiting += sorted[next++]!.count;
    const name = utcDay(day);
    const cap = dailyCap(w, name);
    const room = Math.max(0, cap - (name === utcDay(now) ? usedToday : 0));
    const sends = Math.min(room, waiting);
    waiting -= sends;
    if (sends > 0 || waiting > 0) days.push({ day: name, cap, sends });
    day = new Date(end);
    if (days.length > 366) break;
  }
  return days;
}
