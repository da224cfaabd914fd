import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../src/sending/rate-limiter.js';

describe('RateLimiter', () => {
  it('slows to 70% when SES throttles, at most once a second, and speeds up again after a quiet spell', async () => {
    let t = 0;
    const limiter = new RateLimiter(200, { floor: 1, recoverAfterMs: 5_000, now: () => t });
    limiter.throttled();
    expect(limiter.rate).toBe(140);
    // The rest of a burst of 429s, all answering requests sent before the first cut.
    t = 500;
    limiter.throttled();
    limiter.throttled();
    expect(limiter.rate).toBe(140);
    t = 1_200;
    limiter.throttled();
    expect(limiter.rate).toBeCloseTo(98);
    t = 1_200 + 4_000;
    await limiter.take();
    expect(limiter.rate).toBeCloseTo(98);
    t = 1_200 + 5_001;
    await limiter.take();
    expect(limiter.rate).toBeCloseTo(107.8);
  });

  it('never slows below its floor', () => {
    let t = 0;
    const limiter = new RateLimiter(10, { floor: 2, now: () => t });
    for (let i = 0; i < 20; i++, t += 1_001) limiter.throttled();
    expect(limiter.rate).toBe(2);
  });
});
