import { describe, expect, it } from 'vitest';
import { RateLimiter } from '../../../src/sending/policy/rate-limiter.js';

/** A deterministic pseudo-random sequence (mulberry32), so every run sees the same answers. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Drive a limiter for `seconds` of simulated time in 10 ms steps: each step sends what the
 * limiter's current rate allows, and `answer` says whether the endpoint throttled each
 * request. Returns the rate at every step and the share of requests throttled.
 */
function simulate(target: number, seconds: number, answer: (sentThisSecond: number) => boolean) {
  let now = 0;
  const limiter = new RateLimiter(target, { now: () => now });
  const rates: number[] = [];
  let owed = 0;
  let sent = 0;
  let throttled = 0;
  const window: number[] = [];
  for (let step = 0; step < seconds * 100; step++) {
    now = step * 10;
    owed += limiter.rate / 100;
    while (owed >= 1) {
      owed -= 1;
      while (window.length > 0 && window[0]! <= now - 1000) window.shift();
      const refused = answer(window.length);
      if (!refused) window.push(now);
      sent += 1;
      if (refused) throttled += 1;
      limiter.answered(refused);
    }
    rates.push(limiter.rate);
  }
  return { rates, throttledShare: throttled / sent };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

describe('the adaptive rate limiter (simulated clock)', () => {
  it('keeps most of the configured rate when 15% of requests are throttled at random', () => {
    const random = seeded(42);
    const { rates } = simulate(100, 120, () => random() < 0.15);
    const settled = mean(rates.slice(6000));
    expect(settled).toBeGreaterThan(55);
    expect(settled).toBeLessThanOrEqual(100);
    expect(Math.min(...rates)).toBeGreaterThan(40);
  });

  it('tracks an endpoint that really allows 60/s when told 200/s', () => {
    const { rates, throttledShare } = simulate(200, 120, (inLastSecond) => inLastSecond >= 60);
    const settled = mean(rates.slice(6000));
    expect(settled).toBeGreaterThan(55);
    expect(settled).toBeLessThan(100);
    expect(throttledShare).toBeLessThan(0.3);
  });

  it('climbs back to the target on a clock once throttling stops', () => {
    let now = 0;
    const limiter = new RateLimiter(100, { now: () => now });
    for (let i = 0; i < 20; i++) limiter.answered(i % 2 === 0);
    now = 1000;
    limiter.answered(true);
    // 11 of 21 answers in the interval were throttled: the rate drops by that share.
    expect(limiter.rate).toBeCloseTo(100 * (10 / 21), 5);
    const afterCut = limiter.rate;
    now = 3000;
    expect(limiter.rate).toBeCloseTo(afterCut + 20, 5);
    now = 60_000;
    expect(limiter.rate).toBe(100);
  });

  it('needs enough answers before it cuts, and never cuts below its floor', () => {
    let now = 0;
    const limiter = new RateLimiter(50, { now: () => now, floor: 2 });
    now = 1500;
    for (let i = 0; i < 9; i++) limiter.answered(true);
    expect(limiter.rate).toBe(50);
    limiter.answered(true);
    expect(limiter.rate).toBe(2);
    // A slow trickle of answers still decides, after five intervals.
    const slow = new RateLimiter(50, { now: () => now });
    now += 4000;
    slow.answered(false);
    slow.answered(true);
    expect(slow.rate).toBe(50);
    now += 1000;
    slow.answered(false);
    expect(slow.rate).toBeCloseTo(50 * (2 / 3), 5);
  });

  it('paces take() to the rate on an injected clock', async () => {
    let now = 0;
    const limiter = new RateLimiter(10, {
      now: () => now,
      sleep: async (ms) => { now += ms; },
    });
    for (let i = 0; i < 21; i++) await limiter.take();
    // One token at start, then one every 100 ms.
    expect(now).toBe(2000);
  });
});
