import { describe, expect, it } from 'vitest';
import { progressText, RateWindow } from '../../src/cli/progress-meter.js';

describe('progress line arithmetic', () => {
  it('pace is the last 10 s, and none until two readings are half a second apart', () => {
    const w = new RateWindow();
    w.add(0, 0);
    w.add(100, 400);
    expect(w.perSecond()).toBeUndefined();
    w.add(200, 1_000);
    expect(w.perSecond()).toBe(200);
    // A fast first minute, then a slow spell: the pace follows the spell, not the average.
    for (let t = 2_000; t <= 60_000; t += 1_000) w.add(200 + (t - 1_000) * 0.1, t);
    w.add(6_100, 61_000);
    w.add(6_110, 71_000);
    expect(w.perSecond()).toBeCloseTo(1, 0);
  });

  it('an import read by bytes: rows out of an estimate, share, pace and ETA from the share', () => {
    // 10,000 rows read in the first quarter of the file, at 5,000 rows/s: 30,000 rows to go, 6 s.
    expect(progressText({ done: 10_000, total: 40_000, estimated: true, fraction: 0.25 }, 'rows', 5_000))
      .toBe('10,000/~40,000 rows (25.0%) · 5,000/s · ETA 6s');
  });

  it('a send: done out of the total, ETA from what is due now, the next wave while waiting', () => {
    expect(progressText({ done: 1_234, total: 5_000, dueLeft: 766 }, 'messages', 80, new Date('2026-12-01T17:00:00Z')))
      .toBe('1,234/5,000 messages (24.7%) · 80/s · ETA 10s');
    expect(progressText({ done: 200, total: 5_000, nextAt: new Date('2026-12-01T18:00:00Z') }, 'messages', 80, new Date('2026-12-01T17:17:50Z')))
      .toBe('200/5,000 messages (4.0%) · next wave 18:00 UTC (in 42m 10s)');
  });
});
