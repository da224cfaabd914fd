import type { Kysely, Transaction } from 'kysely';
import type { Config } from '../../config/config.js';
import type { Database } from '../../db/types.js';
import { systemClock, type Clock } from '../clock.js';
import type { ClaimedDelivery, DeliveryResult } from '../ledger.js';
import type { SendOutcome } from '../mailer.js';
import { FailureTally } from '../failure-tally.js';
import { AccountWatch, pauseReason, type AccountState } from './account-stop.js';
import { CampaignPauses } from './campaign-pauses.js';
import { breakerFigures, breakerTrip } from './circuit-breaker.js';
import { FailureStreak } from './failure-streak.js';
import { FleetBudget } from './fleet-budget.js';
import { RateLimiter } from './rate-limiter.js';
import { afterRefusals, DEFAULT_MAX_ATTEMPTS, sendWithRetry } from './retry.js';
import { claimUnderCap, giveBack, type CappedClaim } from './warmup-cap.js';

/** Where today's warm-up cap stands, after the last claim. */
export type WarmupStatus = Omit<CappedClaim<unknown>, 'rows'>;

/** What one settled attempt counts as in the run's figures. */
export type Tally = 'sent' | 'failed' | 'unknown' | undefined;

export interface PolicyCounters {
  retries: number;
  throttled: number;
}

export interface SendingPolicyOptions {
  /** Messages per second. */
  rate: number;
  maxAttempts?: number;
  clock: Clock;
  signal: AbortSignal;
  /** GetAccount, where the transport has it: polled for the account's standing. */
  account?: () => Promise<AccountState | undefined>;
  /** The account stopped (here or on another worker): the run must end with this message. */
  onAccountStop?: (message: string) => void;
}

/**
 * Everything that decides whether and how fast a claimed row goes out, beside the dispatch
 * loop that only claims, renders, sends and records. Each rule lives in its own file with its
 * own tests; this class wires them to one run.
 */
export class SendingPolicy {
  readonly limiter: RateLimiter;
  private readonly budget: FleetBudget;
  readonly pauses: CampaignPauses;
  readonly account: AccountWatch;
  readonly counters: PolicyCounters = { retries: 0, throttled: 0 };
  /** This run's failed deliveries, grouped by error. */
  readonly failures = new FailureTally();
  /** Set when a warm-up cap applies. */
  warmup: WarmupStatus | undefined;
  private readonly streak: FailureStreak;
  private readonly maxAttempts: number;

  constructor(private readonly db: Kysely<Database>, private readonly config: Config, private readonly o: SendingPolicyOptions) {
    this.limiter = new RateLimiter(o.rate);
    // One bucket per transport: every worker sending through this account shares it.
    this.budget = new FleetBudget(db, { name: config.transport, rate: o.rate, signal: o.signal });
    this.pauses = new CampaignPauses(db);
    this.account = new AccountWatch(db, o.account);
    this.streak = new FailureStreak(config.maxConsecutiveFailures);
    this.maxAttempts = o.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  }

  /**
   * Resolves when the next message may leave: the fleet's budget (all workers together keep to
   * the rate), then this worker's adaptive pace (slower while SES throttles).
   */
  async pace(): Promise<void> {
    await this.budget.take();
    // Once the run stops, a wait ends at once (the caller checks the signal and sends nothing).
    await this.limiter.take(this.o.signal);
  }

  /** Send with retries of answers that prove the mail was not accepted. */
  send(send: () => Promise<SendOutcome>): Promise<SendOutcome> {
    return sendWithRetry(send, this.maxAttempts, {
      // A timeout is no answer, so it says nothing about the rate.
      onOutcome: (outcome) => {
        if (outcome.kind !== 'unknown') this.limiter.answered(outcome.kind === 'retry' && outcome.throttled);
      },
      onRefused: (outcome) => {
        this.counters.retries += 1;
        if (outcome.throttled) this.counters.throttled += 1;
      },
      pace: () => this.pace(),
      sleep: (ms) => systemClock.sleep(ms, this.o.signal),
      signal: this.o.signal,
    });
  }

  /**
   * Claim through the warm-up cap when there is one: at most what is left of today's cap,
   * counted in the claim's transaction.
   */
  async claim<T>(now: Date, limit: number, claim: (db: Kysely<Database> | Transaction<Database>, limit: number) => Promise<T[]>): Promise<T[]> {
    if (await this.accountStopped()) return [];
    const schedule = this.config.warmup;
    if (!schedule) return claim(this.db, limit);
    const { rows, ...status } = await claimUnderCap(this.db, schedule, now, limit, claim);
    this.warmup = status;
    return rows;
  }

  /** Claimed rows that were not sent (given back, skipped) do not count toward today's cap. */
  async unclaimed(n: number): Promise<void> {
    if (this.warmup && n > 0) await giveBack(this.db, this.warmup.day, n);
  }

  /**
   * Before each claim: GetAccount now and then, and the stop any worker recorded. A stopped
   * account pauses every running campaign and ends the run.
   */
  private async accountStopped(): Promise<boolean> {
    await this.account.poll();
    const stop = await this.account.check();
    if (!stop) return false;
    this.pauses.adopt(this.account.paused);
    this.o.onAccountStop?.(pauseReason(stop.reason));
    return true;
  }

  /** A fatal SES answer: one about the account (SendingPausedException, …) stops every campaign. */
  async refused(error: string): Promise<void> {
    if (await this.account.refused(error)) this.pauses.adopt(this.account.paused);
  }

  /** Pause the campaigns (these, or every running one) whose bounce or complaint rate is past its limit. */
  async checkBreakers(campaignIds?: number[]): Promise<void> {
    const figures = await breakerFigures(this.db, campaignIds);
    for (const [id, f] of figures) {
      if (this.pauses.has(id)) continue;
      const trip = breakerTrip(f, this.config.breakers);
      if (trip) await this.pauses.pause(id, trip.reason, trip.breaker);
    }
  }

  /** A delivery that failed for good: counted in the run's error groups, recorded without addresses. */
  failed(row: ClaimedDelivery, error: string): DeliveryResult {
    return { id: row.id, status: 'failed', error: this.failures.add(row.campaign_id, error) };
  }

  /**
   * The ledger result of a final outcome, and what it counts as. Fatal outcomes are the
   * caller's to act on (they stop the run); the row goes back to the queue.
   */
  settle(row: ClaimedDelivery, outcome: SendOutcome): { result: DeliveryResult; tally: Tally; pause?: string } {
    switch (outcome.kind) {
      case 'sent':
        this.streak.sent(row.campaign_id);
        return { result: { id: row.id, status: 'sent', messageId: outcome.messageId, at: this.o.clock.now() }, tally: 'sent' };
      case 'failed':
        return { result: this.failed(row, outcome.error), tally: 'failed', pause: this.streak.failed(row.campaign_id, outcome.error) };
      case 'unknown':
        // Timeouts in a row point at the network or SES, not at this recipient.
        return { result: { id: row.id, status: 'unknown', error: outcome.error }, tally: 'unknown', pause: this.streak.failed(row.campaign_id, outcome.error) };
      case 'retry': {
        const result = afterRefusals(row.id, row.attempts, outcome);
        return result.status === 'failed' ? { result: this.failed(row, result.error), tally: 'failed' } : { result, tally: undefined };
      }
      case 'fatal':
        return { result: { id: row.id, status: 'queued', error: outcome.error }, tally: undefined };
    }
  }
}
