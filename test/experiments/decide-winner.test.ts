import { describe, expect, it } from 'vitest';
import { decideWinner, normalCdf, twoProportionZ } from '../../src/experiments/decide-winner.js';

describe('choosing the winner of a test', () => {
  it('picks the higher unique rate and states a two-proportion z-test that clears 95%', () => {
    const d = decideWinner([{ variant: 'a', delivered: 1000, events: 30 }, { variant: 'b', delivered: 1000, events: 60 }], 'clicks', 'a');
    expect(d).toMatchObject({ winner: 'b', reason: 'leader', significant: true });
    // p1 = 0.06, p2 = 0.03, pooled 0.045: z = 0.03 / sqrt(0.045 · 0.955 · 0.002) = 3.236.
    expect(d.z).toBeCloseTo(3.236, 3);
    expect(d.p).toBeCloseTo(0.00121, 4);
    expect(d.note).toBe('b won on unique click rate: a 3.0% (30 of 1000), b 6.0% (60 of 1000). Two-proportion z-test of b against a: z = 3.24, p = 0.001; the difference is significant at the 95% level.');
  });

  it('a leader that does not clear 95% still wins, and the note says the difference may be chance', () => {
    const d = decideWinner([{ variant: 'a', delivered: 200, events: 11 }, { variant: 'b', delivered: 200, events: 9 }, { variant: 'c', delivered: 200, events: 6 }], 'opens', 'a');
    expect(d).toMatchObject({ winner: 'a', reason: 'leader', significant: false });
    expect(d.note).toMatch(/^a won on unique open rate: a 5\.5% \(11 of 200\), b 4\.5% \(9 of 200\), c 3\.0% \(6 of 200\)\. Two-proportion z-test of a against b: z = 0\.\d+, p = 0\.\d+; not significant at the 95% level/);
  });

  it('a tie between the best two chooses the default and says so', () => {
    const d = decideWinner([{ variant: 'a', delivered: 100, events: 5 }, { variant: 'b', delivered: 200, events: 10 }], 'clicks', 'a');
    expect(d).toMatchObject({ winner: 'a', reason: 'tie', z: null, p: null });
    expect(d.note).toMatch(/^Tie: .* have the same unique click rate; a, the default, goes to the rest\./);
  });

  it('too few events, or a variant with nothing delivered, chooses the default and says so', () => {
    const few = decideWinner([{ variant: 'a', delivered: 500, events: 2 }, { variant: 'b', delivered: 500, events: 7 }], 'clicks', 'a');
    expect(few).toMatchObject({ winner: 'a', reason: 'too-few-events' });
    expect(few.note).toBe('Too few events: only 9 clicks among 1000 delivered test mails (10 needed to compare); a, the default, goes to the rest. Unique click rate: a 0.4% (2 of 500), b 1.4% (7 of 500).');
    const empty = decideWinner([{ variant: 'a', delivered: 0, events: 0 }, { variant: 'b', delivered: 100, events: 40 }], 'clicks', 'a');
    expect(empty).toMatchObject({ winner: 'a', reason: 'too-few-events' });
    expect(empty.note).toMatch(/variant a has no delivered test mail/);
  });

  it('the normal distribution and the z-test agree with their tables', () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 6);
    expect(normalCdf(1.96)).toBeCloseTo(0.975, 4);
    expect(normalCdf(-1.645)).toBeCloseTo(0.05, 3);
    expect(twoProportionZ(0, 10, 0, 10)).toEqual({ z: 0, p: 1 });
  });
});
