import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/types.js';
import { withDbRetry } from '../../db/retry.js';

/**
 * One rate for the whole fleet. Every dispatcher takes its sends from one token bucket in
 * Postgres (table send_rate_budget), refilled at `rate` per second by the database's clock, so
 * N workers on any number of machines together send no faster than one would.
 *
 * Why a bucket and not a registry of live workers dividing the rate: the bucket is exact at
 * every moment (a worker that starts, stops or idles changes nothing for the others), while a
 * registry gives each worker rate/N and so wastes the share of a worker with nothing to send,
 * and oversends for a lease period when a worker dies and its share is not yet given back.
 * The bucket's cost is one UPDATE of one row per chunk of sends: workers take a tenth of a
 * second's worth at a time, so each makes about ten small statements a second at most,
 * whatever the rate. A worker that stops loses the tokens it held (a tenth of a second's worth).
 */
export interface TakeTokens {
  /** Bucket name (one per sending account). */
  name: string;
  /** Fleet-wide messages per second. */
  rate: number;
  /** Tokens wanted. */
  ask: number;
  /** Most tokens the bucket holds (the fleet's burst). */
  burst: number;
  /** The time to refill to; the database clock when omitted (tests pass their own). */
  at?: Date;
}

/**
 * Take up to `ask` whole tokens in one statement. The row lock serialises concurrent takers:
 * a second UPDATE waits for the first to commit, then re-reads the row, so no token is ever
 * handed out twice. Returns what was granted and, when nothing was, how long until a token.
 */
export async function takeTokens(db: Kysely<Database>, o: TakeTokens): Promise<{ granted: number; waitMs: number }> {
  const at = o.at ? sql`${o.at}::timestamptz` : sql`clock_timestamp()`;
  const { rows } = await sql<{ granted: number; tokens: number }>`
    WITH seed AS (
      INSERT INTO send_rate_budget (name, tokens, refilled_at) VALUES (${o.name}, 0, ${at})
      ON CONFLICT (name) DO NOTHING
    )
    UPDATE send_rate_budget b SET
      granted = least(${o.ask}::int, floor(least(${o.burst}::float8, b.tokens + ${o.rate}::float8 * greatest(0, extract(epoch FROM ${at} - b.refilled_at))))::int),
      tokens = least(${o.burst}::float8, b.tokens + ${o.rate}::float8 * greatest(0, extract(epoch FROM ${at} - b.refilled_at)))
               - least(${o.ask}::int, floor(least(${o.burst}::float8, b.tokens + ${o.rate}::float8 * greatest(0, extract(epoch FROM ${at} - b.refilled_at))))::int),
      refilled_at = greatest(b.refilled_at, ${at})
    WHERE b.name = ${o.name}
    RETURNING b.granted, b.tokens`.execute(db);
  const row = rows[0];
  // The first take of a bucket only created it (a CTE's insert is not visible to the UPDATE).
  if (!row) return { granted: 0, waitMs: Math.ceil(1000 / o.rate) };
  return { granted: row.granted, waitMs: row.granted > 0 ? 0 : Math.max(1, Math.ceil(((1 - row.tokens) / o.rate) * 1000)) };
}

/** Hands this worker tokens from the fleet's bucket, a chunk at a time, in call order. */
export class FleetBudget {
  private local = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly ask: number;
  private readonly burst: number;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly o: { name: string; rate: number; signal?: AbortSignal; sleep?: (ms: number) => Promise<void> },
  ) {
    this.ask = Math.max(1, Math.ceil(o.rate / 10));
    // A quarter second's worth, at least one chunk: a burst the account's limit absorbs.
    this.burst = Math.max(this.ask, o.rate / 4);
  }

  /** Resolves when this worker may send one message (at once if the run is stopping). */
  take(): Promise<void> {
    const next = this.queue.then(() => this.takeOne());
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async takeOne(): Promise<void> {
    while (this.local < 1) {
      if (this.o.signal?.aborted) return;
      const { granted, waitMs } = await withDbRetry(() => takeTokens(this.db, { name: this.o.name, rate: this.o.rate, ask: this.ask, burst: this.burst }));
      this.local += granted;
      if (granted === 0) await (this.o.sleep ?? sleep)(waitMs);
    }
    this.local -= 1;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
