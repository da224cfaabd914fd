import { systemClock } from '../clock.js';

/**
 * Paces sends to an adaptive rate: a token bucket (one-second burst) whose rate follows
 * SES's answers.
 *
 * Cut in proportion to evidence, recover on a clock (AIMD, the shape of the AWS SDK's adaptive
 * retry mode without its cut on every single throttle):
 * - Answers are counted over an interval of at least `intervalMs` and `minAnswers`. If a share f
 *   of them were throttled (429), the rate drops by that share: rate × (1 − f). Sending 200/s
 *   to an endpoint that really allows 60/s gets 70% refused, so one cut lands on its limit;
 *   an endpoint that throttles 15% of requests at random, whatever the rate, costs 15% per
 *   interval, not 30% per second.
 * - Between cuts the rate climbs back by `recoverPerSecond` (default a tenth of the target) every
 *   second, throttled or not, so sporadic throttling cannot hold it down: under 15% random
 *   throttles it settles where a tenth of the target per second equals 15% of the rate, about
 *   two thirds of the target. Over a real limit it probes upwards by that much and is cut back.
 *
 * The previous limiter cut to 70% at most once a second and recovered only after 5 quiet
 * seconds; random 15% throttling never leaves 5 quiet seconds, so a 200/s run sank to its floor
 * of 1/s and stayed there.
 */
export interface RateLimiterOptions {
  /** Lowest rate a cut may reach (default 1/s, or the target if lower). */
  floor?: number;
  /** Rate regained per second, throttled or not (default target / 10). */
  recoverPerSecond?: number;
  /** Shortest interval between two decisions (default 1000 ms). */
  intervalMs?: number;
  /** Fewest answers a decision needs, unless 5 intervals passed (default 10). */
  minAnswers?: number;
  /** Milliseconds on a monotonic clock (default performance.now). */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export class RateLimiter {
  private tokens: number;
  private last: number;
  private current: number;
  private windowStart: number;
  private answers = 0;
  private throttles = 0;
  private queue: Promise<void> = Promise.resolve();
  private readonly floor: number;
  private readonly recoverPerSecond: number;
  private readonly intervalMs: number;
  private readonly minAnswers: number;

  constructor(private readonly target: number, private readonly options: RateLimiterOptions = {}) {
    this.current = target;
    this.tokens = Math.min(1, target);
    this.last = this.now();
    this.windowStart = this.last;
    this.floor = Math.min(target, options.floor ?? 1);
    this.recoverPerSecond = options.recoverPerSecond ?? target / 10;
    this.intervalMs = options.intervalMs ?? 1000;
    this.minAnswers = options.minAnswers ?? 10;
  }

  /** The rate now (messages per second). */
  get rate(): number {
    this.advance(this.now());
    return this.current;
  }

  private now(): number {
    return (this.options.now ?? performance.now.bind(performance))();
  }

  /**
   * Resolves when the caller may send one message. Calls are served in order. Once `signal`
   * aborts, waiting calls resolve at once (the caller checks the signal and sends nothing).
   */
  take(signal?: AbortSignal): Promise<void> {
    const next = this.queue.then(() => this.waitForToken(signal));
    this.queue = next;
    return next;
  }

  private async waitForToken(signal?: AbortSignal): Promise<void> {
    for (;;) {
      if (signal?.aborted) return;
      const now = this.now();
      this.advance(now);
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const waitMs = Math.max(1, Math.ceil(((1 - this.tokens) / this.current) * 1000));
      await (this.options.sleep ?? ((ms: number) => systemClock.sleep(ms, signal)))(waitMs);
    }
  }

  /** Refill the bucket and regain rate for the time since the last look. */
  private advance(now: number): void {
    const dt = Math.max(0, now - this.last) / 1000;
    this.last = now;
    this.tokens = Math.min(Math.max(1, this.current), this.tokens + dt * this.current);
    this.current = Math.min(this.target, this.current + dt * this.recoverPerSecond);
  }

  /** An answer from SES: `throttled` when it was a 429 (too many requests). */
  answered(throttled: boolean): void {
    const now = this.now();
    this.advance(now);
    this.answers += 1;
    if (throttled) this.throttles += 1;
    const elapsed = now - this.windowStart;
    if (elapsed < this.intervalMs || (this.answers < this.minAnswers && elapsed < 5 * this.intervalMs)) return;
    if (this.throttles > 0) {
      this.current = Math.max(this.floor, this.current * (1 - this.throttles / this.answers));
      // Drop the burst saved up at the old rate.
      this.tokens = Math.min(this.tokens, 0);
    }
    this.windowStart = now;
    this.answers = 0;
    this.throttles = 0;
  }
}
