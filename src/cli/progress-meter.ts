import { formatDuration, formatNumber, formatPercent, formatRate } from './format.js';

/** Where a long job stands, as the domain's callbacks report it. */
export interface Reading {
  done: number;
  /** How many there are in all, when known. */
  total?: number;
  /** The total is an estimate (a CSV's rows from its size): shown as "~12,300". */
  estimated?: boolean;
  /** Share done when it is measured apart from the count (bytes of a file read). */
  fraction?: number;
  /** Of the rest, how many are due now (later waves wait for their time): the ETA counts these. */
  dueLeft?: number;
  /** Waiting for the next wave, due at this time. */
  nextAt?: Date;
  /** Anything else worth a glance: "failed 2", "3 duplicates". */
  note?: string;
}

/**
 * The pace of the last `windowMs` (10 s): a send that slowed for throttling shows its pace now,
 * not its average since the start, and the ETA follows it.
 */
export class RateWindow {
  private samples: { at: number; done: number }[] = [];

  constructor(private readonly windowMs = 10_000) {}

  add(done: number, at = performance.now()): void {
    this.samples.push({ at, done });
    while (this.samples.length > 2 && at - this.samples[1]!.at >= this.windowMs) this.samples.shift();
  }

  /** Per second, or undefined until there are two samples at least half a second apart. */
  perSecond(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at - first.at < 500) return undefined;
    return ((last.done - first.done) * 1000) / (last.at - first.at);
  }
}

/**
 * One progress line: "1,234/5,000 sent (24.7%) · 80/s · ETA 47s · failed 2", or while waiting
 * "200/5,000 sent (4.0%) · next wave 18:00 UTC (in 42m 10s)".
 */
export function progressText(r: Reading, unit: string, perSecond: number | undefined, now = new Date()): string {
  const total = r.total === undefined ? '' : `/${r.estimated ? '~' : ''}${formatNumber(Math.max(r.total, r.done))}`;
  const fraction = r.fraction ?? (r.total ? Math.min(1, r.done / r.total) : undefined);
  const parts = [`${formatNumber(r.done)}${total} ${unit}${fraction === undefined ? '' : ` (${formatPercent(fraction)})`}`];
  if (r.nextAt) {
    parts.push(`next wave ${waveTime(r.nextAt, now)} (in ${formatDuration(Math.max(0, (r.nextAt.getTime() - now.getTime()) / 1000))})`);
  } else if (perSecond !== undefined) {
    parts.push(formatRate(perSecond));
    const eta = etaSeconds(r, perSecond, fraction);
    if (eta !== undefined) parts.push(`ETA ${formatDuration(eta)}`);
  }
  if (r.note) parts.push(r.note);
  return parts.join(' · ');
}

function etaSeconds(r: Reading, perSecond: number, fraction: number | undefined): number | undefined {
  if (perSecond <= 0) return undefined;
  if (r.dueLeft !== undefined) return r.dueLeft / perSecond;
  if (fraction === undefined) return undefined;
  if (r.total !== undefined && r.fraction === undefined) return Math.max(0, r.total - r.done) / perSecond;
  // Measured by bytes: the items still to come, at the share done so far.
  return fraction > 0 ? (r.done / fraction - r.done) / perSecond : undefined;
}

/** "18:00 UTC" today, "Dec 02 18:00 UTC" on another day. */
function waveTime(at: Date, now: Date): string {
  const iso = at.toISOString();
  const sameDay = iso.slice(0, 10) === now.toISOString().slice(0, 10);
  const month = at.toLocaleString('en-US', { month: 'short', timeZone: 'UTC' });
  return `${sameDay ? '' : `${month} ${iso.slice(8, 10)} `}${iso.slice(11, 16)} UTC`;
}
