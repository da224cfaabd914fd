import type { TestMetric } from './types.js';

/** One variant's test share, as counted when the winner is chosen. */
export interface VariantFigures {
  variant: string;
  /** Test mails sent and not bounced. */
  delivered: number;
  /** Of those, how many were clicked (or opened, for `metric: opens`) at least once. */
  events: number;
}

export type DecisionReason = 'leader' | 'tie' | 'too-few-events';

export interface Decision {
  winner: string;
  reason: DecisionReason;
  /** One plain sentence or two: the figures, the test used and what it says. */
  note: string;
  figures: (VariantFigures & { rate: number | null })[];
  /** Two-proportion z-test of the leader against the runner-up; null without a leader. */
  z: number | null;
  p: number | null;
  /** p < 0.05. */
  significant: boolean;
}

/** Fewer events than this across the test tell nothing: the default variant goes out. */
export const MIN_EVENTS = 10;

/**
 * Choose the winner of a test by unique click (or open) rate among delivered test mails. Ties
 * (between the best two) and too few events choose the default, the first variant, and say so.
 * The note states the rates, the two-proportion z-test of the leader against the runner-up and
 * whether it clears 95%; a leader that does not clear it still wins (it did better on the
 * evidence there is), and the note says it may be chance.
 */
export function decideWinner(figures: VariantFigures[], metric: TestMetric, defaultVariant: string): Decision {
  const rated = figures.map((f) => ({ ...f, rate: f.delivered > 0 ? f.events / f.delivered : null }));
  const what = metric === 'clicks' ? 'unique click rate' : 'unique open rate';
  const eventWord = metric === 'clicks' ? 'click' : 'open';
  const totalEvents = figures.reduce((a, f) => a + f.events, 0);
  const totalDelivered = figures.reduce((a, f) => a + f.delivered, 0);
  const list = rated.map((f) => `${f.variant} ${describeRate(f)}`).join(', ');
  const base = { figures: rated, z: null, p: null, significant: false };
  if (totalEvents < MIN_EVENTS || rated.some((f) => f.delivered === 0)) {
    const why = totalDelivered === 0
      ? 'no test mail was delivered'
      : rated.some((f) => f.delivered === 0)
      ? `variant ${rated.find((f) => f.delivered === 0)!.variant} has no delivered test mail`
      : `only ${totalEvents} ${plural(totalEvents, eventWord)} among ${totalDelivered} delivered test ${plural(totalDelivered, 'mail')} (${MIN_EVENTS} needed to compare)`;
    return { ...base, winner: defaultVariant, reason: 'too-few-events', note: `Too few events: ${why}; ${defaultVariant}, the default, goes to the rest. ${capitalise(what)}: ${list}.` };
  }
  const ranked = [...rated].sort((x, y) => (y.rate ?? 0) - (x.rate ?? 0));
  const leader = ranked[0]!;
  const runnerUp = ranked[1]!;
  if ((leader.rate ?? 0) - (runnerUp.rate ?? 0) < 1e-12) {
    return { ...base, winner: defaultVariant, reason: 'tie', note: `Tie: ${leader.variant} and ${runnerUp.variant} have the same ${what}; ${defaultVariant}, the default, goes to the rest. ${capitalise(what)}: ${list}.` };
  }
  const { z, p } = twoProportionZ(leader.events, leader.delivered, runnerUp.events, runnerUp.delivered);
  const significant = p < 0.05;
  const test = `two-proportion z-test of ${leader.variant} against ${runnerUp.variant}: z = ${z.toFixed(2)}, p = ${formatP(p)}`;
  const verdict = significant
    ? 'the difference is significant at the 95% level'
    : 'not significant at the 95% level: the difference may be chance, and the higher rate wins all the same';
  return {
    ...base, z, p, significant, winner: leader.variant, reason: 'leader',
    note: `${leader.variant} won on ${what}: ${list}. ${capitalise(test)}; ${verdict}.`,
  };
}

/** z for p1 − p2 with the pooled proportion, and its two-sided p-value. */
export function twoProportionZ(x1: number, n1: number, x2: number, n2: number): { z: number; p: number } {
  const pooled = (x1 + x2) / (n1 + n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  if (se === 0) return { z: 0, p: 1 };
  const z = (x1 / n1 - x2 / n2) / se;
  return { z, p: Math.min(1, 2 * (1 - normalCdf(Math.abs(z)))) };
}

/** Φ(x) from erf by Abramowitz and Stegun 7.1.26 (error below 1.5e-7). */
export function normalCdf(x: number): number {
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2));
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  const erf = 1 - poly * Math.exp(-(x * x) / 2);
  return x >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

function describeRate(f: VariantFigures & { rate: number | null }): string {
  return f.rate === null ? `– (0 delivered)` : `${(f.rate * 100).toFixed(1)}% (${f.events} of ${f.delivered})`;
}

function formatP(p: number): string {
  return p < 0.001 ? '< 0.001' : p.toFixed(3);
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${word}s`;
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
