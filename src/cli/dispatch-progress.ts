import type { Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import type { DispatchStatus } from '../sending/dispatch.js';
import { dueQueued } from '../sending/ledger.js';
import { formatNumber, formatRate } from './format.js';
import type { Meter } from './output.js';

// Every queued delivery, whatever its wave: due "by the end of time".
const END_OF_TIME = new Date('9999-12-31T00:00:00Z');

/**
 * The progress line of a dispatch: done out of what is due now (or, with --wait, out of every
 * queued wave), pace, ETA for what is due, and the next wave's time while waiting. The count of
 * what is due is read again every few seconds, so the ETA follows waves that come due.
 */
export async function dispatchProgress(db: Kysely<Database>, meter: Meter, o: { campaignId?: number; wait: boolean }): Promise<{ onStatus(s: DispatchStatus): void; stop(): void }> {
  const total = await dueQueued(db, o.wait ? END_OF_TIME : new Date(), o.campaignId).catch(() => undefined);
  let dueLeft: number | undefined;
  const refresh = () => dueQueued(db, new Date(), o.campaignId).then((n) => { dueLeft = n; }, () => undefined);
  if (o.wait) await refresh();
  const timer = o.wait ? setInterval(refresh, 5_000) : undefined;
  timer?.unref();
  return {
    onStatus(s) {
      const done = s.sent + s.failed + s.unknown + s.skipped;
      meter.update({ done, total, dueLeft, nextAt: s.waiting ? s.nextWave : undefined, note: dispatchNote(s) });
    },
    stop() {
      clearInterval(timer);
      meter.done();
    },
  };
}

/** What the count alone does not say: failures, throttling. */
function dispatchNote(s: DispatchStatus): string | undefined {
  const parts: string[] = [];
  if (s.failed) parts.push(`failed ${formatNumber(s.failed)}`);
  if (s.unknown) parts.push(`unknown ${formatNumber(s.unknown)}`);
  if (s.skipped) parts.push(`skipped ${formatNumber(s.skipped)}`);
  if (s.throttled) parts.push(`throttled ${formatNumber(s.throttled)}× (now ${formatRate(s.rate)})`);
  return parts.length > 0 ? parts.join(' · ') : undefined;
}
