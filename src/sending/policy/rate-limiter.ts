import { systemClock } from '../clock.js';

/**
 * A token bucket that paces sends to `rate` per second, with a one-second burst.
 *
 * Throttling answers arrive in bursts (every request in flight when SES started refusing comes
 * back 429), so the bucket slows to 70% at most once per second, not once per answer: cutting
 * per answer took a 200/s run to the 1/s floor within a second of a 30% throttle rate. After
 * every quiet `recoverAfterMs` it speeds up by 10%, back to the configured rate.
 */
export class RateLimiter {
  private tokens: number;
  private last: number;
  private current: number;
  private lastThrottle = -Infinity;
  private lastCut = -Infinity;
  private queue: Promise<void> = Promise.resolve();

  constructor(
    private readonly target: number,
    private readonly options: { floor?: number; recoverAfterMs?: number; now?: () => number } = {},
  ) {
    this.current = target;
    this.tokens = Math.min(1, target);
    this.last = this.now();
  }

  get rate(): number {
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
      this.maybeRecover(now);
      this.tokens = Math.min(Math.max(1, this.current), this.tokens + ((now - this.last) / 1000) * this.current);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      const waitMs = ((1 - this.tokens) / this.current) * 1000;
      await systemClock.sleep(Math.max(1, Math.ceil(waitMs)), signal);
    }
  }

  /** SES said "too many requests": slow down. */
  throttled(): void {
    const now = this.now();
    this.lastThrottle = now;
    if (now - this.lastCut < 1000) return;
    this.lastCut = now;
    this.current = Math.max(this.options.floor ?? 1, this.current * 0.7);
    this.tokens = Math.min(this.tokens, 0);
  }

  private maybeRecover(now: number): void {
    const after = this.options.recoverAfterMs ?? 5_000;
    if (this.current < this.target && now - this.lastThrottle > after) {
      this.current = Math.min(this.target, this.current * 1.1);
      this.lastThrottle = now;
    }
  }
}
