import type { DeliveryResult } from '../ledger.js';
import type { SendOutcome } from '../mailer.js';

/** Claims of one delivery after which "still refused by SES" becomes `failed`. */
export const MAX_CLAIMS = 5;

/** Attempts within one claim for answers that prove the mail was not accepted. */
export const DEFAULT_MAX_ATTEMPTS = 8;

/**
 * Exponential backoff with full jitter before attempt `attempt + 1`: up to 100 ms, 200 ms, …
 * capped at 10 s. Full jitter spreads the retries of every request that was refused in the
 * same burst, so they do not come back as a burst.
 */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  return random() * Math.min(10_000, 100 * 2 ** (attempt - 1));
}

/**
 * What becomes of a row SES still refused after every attempt of this claim (proven not
 * accepted). Throttled: straight back to the queue, the slowed limiter does the pacing. Server
 * errors: at once the first time, then a minute more for each further round (so a dispatch
 * without --wait ends instead of reclaiming it forever), and after MAX_CLAIMS rounds, failed
 * for good.
 */
export function afterRefusals(id: string, claims: number, outcome: { error: string; throttled: boolean }): DeliveryResult {
  if (outcome.throttled) return { id, status: 'queued', error: outcome.error };
  if (claims >= MAX_CLAIMS) return { id, status: 'failed', error: `gave up after ${claims} rounds of retries: ${outcome.error}` };
  return { id, status: 'queued', error: outcome.error, retryAfterSeconds: 60 * (claims - 1) };
}

export interface RetryHooks {
  /** Called for every outcome of an attempt, final or not. */
  onOutcome?(outcome: SendOutcome): void;
  /** Called for every refusal that will be (or could have been) retried. */
  onRefused(outcome: Extract<SendOutcome, { kind: 'retry' }>): void;
  /** Resolves when the next attempt may go (the rate limiter). */
  pace(): Promise<void>;
  sleep(ms: number): Promise<void>;
  signal: AbortSignal;
  random?: () => number;
}

/**
 * Send, retrying only answers that prove the mail was not accepted (throttling, 5xx, refused
 * connections): SES has no idempotency key, so anything else is final for this claim.
 */
export async function sendWithRetry(send: () => Promise<SendOutcome>, maxAttempts: number, hooks: RetryHooks): Promise<SendOutcome> {
  let outcome: SendOutcome = { kind: 'retry', error: 'not attempted', throttled: false };
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    outcome = await send();
    hooks.onOutcome?.(outcome);
    if (outcome.kind !== 'retry') return outcome;
    hooks.onRefused(outcome);
    if (attempt === maxAttempts || hooks.signal.aborted) break;
    await hooks.sleep(backoffMs(attempt, hooks.random));
    await hooks.pace();
    if (hooks.signal.aborted) break;
  }
  return outcome;
}
