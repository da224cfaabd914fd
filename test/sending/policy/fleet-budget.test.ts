import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetBudget, takeTokens } from '../../../src/sending/policy/fleet-budget.js';
import { createTestDb, type TestDb } from '../../helpers/db.js';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t?.close();
});

describe('one rate for the whole fleet', () => {
  it('four workers taking at once are granted no more than the rate, window by window, and not much less', async () => {
    const rate = 50;
    const burst = rate / 4;
    const start = Date.parse('2026-12-01T00:00:00Z');
    const grantedAt: { ms: number; n: number }[] = [];
    // Four workers ask for a chunk every 50 ms of a 10-second run (times injected, so the
    // accounting is exact however slowly the machine runs the statements).
    for (let ms = 0; ms <= 10_000; ms += 50) {
      const at = new Date(start + ms);
      const takes = await Promise.all([1, 2, 3, 4].map(() => takeTokens(t.db, { name: 'fleet-test', rate, ask: 5, burst, at })));
      for (const r of takes) {
        expect(r.granted).toBeLessThanOrEqual(5);
        if (r.granted > 0) grantedAt.push({ ms, n: r.granted });
      }
    }
    const total = grantedAt.reduce((a, g) => a + g.n, 0);
    // 10 s at 50/s; the bucket starts empty.
    expect(total).toBeLessThanOrEqual(rate * 10);
    expect(total).toBeGreaterThanOrEqual(rate * 10 - 5);
    // Any one-second window: at most a second's worth plus the burst.
    for (let from = 0; from <= 9_000; from += 100) {
      const inWindow = grantedAt.filter((g) => g.ms >= from && g.ms < from + 1000).reduce((a, g) => a + g.n, 0);
      expect(inWindow).toBeLessThanOrEqual(rate + burst);
    }
  });

  it('says how long to wait when the bucket is empty, and never goes back in time', async () => {
    const at = new Date('2026-12-02T00:00:00Z');
    await takeTokens(t.db, { name: 'wait-test', rate: 10, ask: 1, burst: 2, at });
    expect(await takeTokens(t.db, { name: 'wait-test', rate: 10, ask: 1, burst: 2, at })).toEqual({ granted: 0, waitMs: 100 });
    expect(await takeTokens(t.db, { name: 'wait-test', rate: 10, ask: 5, burst: 2, at: new Date(at.getTime() + 1000) })).toEqual({ granted: 2, waitMs: 0 });
    // A worker whose clock lags does not refill the bucket twice.
    expect((await takeTokens(t.db, { name: 'wait-test', rate: 10, ask: 5, burst: 2, at: new Date(at.getTime() + 500) })).granted).toBe(0);
  });

  it('FleetBudget hands out tokens one by one from its chunks and returns at once when the run stops', async () => {
    const stop = new AbortController();
    let slept = 0;
    const budget = new FleetBudget(t.db, { name: 'class-test', rate: 1000, signal: stop.signal, sleep: async (ms) => { slept += ms; await new Promise((r) => setTimeout(r, ms)); } });
    for (let i = 0; i < 150; i++) await budget.take();
    const { rows } = await sql<{ tokens: number }>`SELECT tokens FROM send_rate_budget WHERE name = 'class-test'`.execute(t.db);
    expect(rows).toHaveLength(1);
    expect(slept).toBeGreaterThan(0);
    stop.abort();
    const slow = new FleetBudget(t.db, { name: 'stopped-test', rate: 0.01, signal: stop.signal });
    await slow.take();
  });
});
