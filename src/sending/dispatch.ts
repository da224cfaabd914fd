import path from 'node:path';
import type { Kysely } from 'kysely';
import pLimit from 'p-limit';
import { compileCampaign, loadCampaign, type CompiledCampaign } from '../campaigns/index.js';
import type { Config } from '../config/config.js';
import type { Database } from '../db/types.js';
import { errorMessage } from '../errors.js';
import { withDbRetry } from '../db/retry.js';
import { BatchWriter } from './batch-writer.js';
import { systemClock, type Clock } from './clock.js';
import {
  claimDeliveries, finishCampaigns, hasPendingWork, markAttempted, nextDueAt, nextRetryDue, pauseCampaign, recordResults,
  recoverExpiredLeases, releaseUnattempted, renewLeases, skipLateDeliveries, type ClaimedDelivery, type DeliveryResult,
} from './ledger.js';
import type { Mailer, OutgoingMessage, SendOutcome } from './mailer.js';
import { RateLimiter } from './rate-limiter.js';

/** Claims of one delivery after which "still refused by SES" becomes `failed`. */
const MAX_CLAIMS = 5;

export interface DispatchStatus {
  sent: number;
  failed: number;
  unknown: number;
  skipped: number;
  retries: number;
  throttled: number;
  /** Current pace of the limiter (messages per second). */
  rate: number;
  /** Messages per second achieved so far. */
  achieved: number;
  nextWave: Date | undefined;
  waiting: boolean;
}

export interface DispatchResult extends DispatchStatus {
  campaigns: number[];
  finished: number[];
  paused: { campaign: number; reason: string }[];
  /** Why the run ended early, if it did. */
  stopped: { reason: 'fatal' | 'interrupted'; message: string } | undefined;
  recovered: { requeued: number; unknown: number };
}

export interface DispatchDeps {
  db: Kysely<Database>;
  mailer: Mailer;
  config: Config;
  clock?: Clock;
  /** Compiles a campaign from its row; defaults to loading the file recorded by `send`. */
  compile?: (campaignId: number) => Promise<CompiledCampaign>;
  onStatus?: (s: DispatchStatus) => void;
  signal?: AbortSignal;
}

export interface DispatchOptions {
  worker: string;
  campaignId?: number;
  concurrency: number;
  /** Messages per second. */
  rate: number;
  /** Keep going until every wave is sent, sleeping between waves. */
  wait: boolean;
  /** Send the campaign even if its file changed since sending began. */
  allowChanged?: boolean;
  batchSize?: number;
  /** Longest sleep between looks for due work while waiting. */
  pollMs?: number;
  /** Attempts for errors that prove the mail was not accepted (throttling, 5xx, refused). */
  maxAttempts?: number;
}

/**
 * Send what is due: claim batches of due deliveries, render each, pace them with the rate
 * limiter, send with bounded concurrency, record each outcome. Memory stays flat: at most a
 * couple of batches are held, however long the list.
 */
export async function dispatch(deps: DispatchDeps, o: DispatchOptions): Promise<DispatchResult> {
  const { db, mailer, config } = deps;
  const clock = deps.clock ?? systemClock;
  const batchSize = o.batchSize ?? Math.max(50, o.concurrency * 4);
  const maxAttempts = o.maxAttempts ?? 8;
  const limiter = new RateLimiter(o.rate, { floor: Math.min(1, o.rate) });
  const limit = pLimit(o.concurrency);
  const startedAt = performance.now();
  const status: DispatchStatus = { sent: 0, failed: 0, unknown: 0, skipped: 0, retries: 0, throttled: 0, rate: o.rate, achieved: 0, nextWave: undefined, waiting: false };
  const result: DispatchResult = { ...status, campaigns: [], finished: [], paused: [], stopped: undefined, recovered: { requeued: 0, unknown: 0 } };
  const touched = new Set<number>();
  const consecutiveFailures = new Map<number, number>();
  const pausedHere = new Set<number>();
  const compiled = new Map<number, Promise<CompiledCampaign>>();
  // Rows this run gave back to the queue because SES refused them for now (throttled, 5xx): a
  // run without --wait still owes them, and ends only once none of them is queued.
  const retrying = new Set<string>();
  let stop: DispatchResult['stopped'];
  const stopController = new AbortController();
  const halt = (s: NonNullable<DispatchResult['stopped']>) => {
    stop ??= s;
    stopController.abort();
  };
  deps.signal?.addEventListener('abort', () => halt({ reason: 'interrupted', message: 'interrupted' }), { once: true });
  if (deps.signal?.aborted) halt({ reason: 'interrupted', message: 'interrupted' });

  const compile = deps.compile ?? (async (campaignId: number) => {
    const row = await db.selectFrom('campaigns').select(['file', 'content_hash']).where('id', '=', campaignId).executeTakeFirstOrThrow();
    const campaign = await loadCampaign(path.resolve(config.root, row.file), config);
    if (campaign.contentHash !== row.content_hash && !o.allowChanged) {
      throw new Error(`${row.file} differs from the version this campaign started sending with; run "marketer send ${row.file}" to see what changed`);
    }
    return compileCampaign(campaign, config);
  });
  const compiledFor = (id: number) => {
    let p = compiled.get(id);
    if (!p) {
      p = compile(id);
      compiled.set(id, p);
    }
    return p;
  };

  const attempts = new BatchWriter<string, boolean>(async (ids) => {
    const held = await withDbRetry(() => markAttempted(db, o.worker, ids));
    return ids.map((id) => held.has(id));
  }, { maxItems: o.concurrency, maxDelayMs: 2 });
  const resultWriter = new BatchWriter<DeliveryResult, void>(async (items) => {
    await withDbRetry(() => recordResults(db, o.worker, items));
    return items.map(() => undefined);
  }, { maxItems: 200, maxDelayMs: 50 });
  // A send slot does not wait for its result to be written (that costs up to a flush delay per
  // message); writes are tracked here, and a failed write stops the run.
  const results = {
    add(r: DeliveryResult): void {
      resultWriter.add(r).catch((err: unknown) => halt({ reason: 'fatal', message: `database error: ${errorMessage(err)}` }));
    },
    drain: () => resultWriter.drain(),
  };

  const heartbeat = setInterval(() => {
    renewLeases(db, o.worker, config.leaseSeconds).catch(() => undefined);
  }, Math.max(1000, (config.leaseSeconds * 1000) / 3));

  const report = () => {
    status.rate = limiter.rate;
    const secs = (performance.now() - startedAt) / 1000;
    status.achieved = secs > 0 ? status.sent / secs : 0;
    deps.onStatus?.({ ...status });
  };
  const reportTimer = setInterval(report, 500);

  const sendWithRetry = async (message: OutgoingMessage): Promise<SendOutcome> => {
    let outcome: SendOutcome = { kind: 'retry', error: 'not attempted', throttled: false };
    for (let attempt = 1; attempt <= maxAttempts; attempt++) {
      outcome = await mailer.send(message);
      if (outcome.kind !== 'retry') return outcome;
      status.retries += 1;
      if (outcome.throttled) {
        status.throttled += 1;
        limiter.throttled();
      }
      if (attempt === maxAttempts || stopController.signal.aborted) break;
      // Exponential backoff with full jitter: 100 ms, 200 ms, … capped at 10 s.
      const backoff = Math.random() * Math.min(10_000, 100 * 2 ** (attempt - 1));
      await systemClock.sleep(backoff, stopController.signal);
      await limiter.take(stopController.signal);
      if (stopController.signal.aborted) break;
    }
    return outcome;
  };

  /** Too many failed or unknown sends in a row pause the campaign, visibly, with the last error. */
  const noteFailure = (campaignId: number, error: string) => {
    const n = (consecutiveFailures.get(campaignId) ?? 0) + 1;
    consecutiveFailures.set(campaignId, n);
    if (n >= config.maxConsecutiveFailures && !pausedHere.has(campaignId)) {
      pausedHere.add(campaignId);
      const reason = `${n} sends in a row failed; last error: ${error}`;
      result.paused.push({ campaign: campaignId, reason });
      pauseCampaign(db, campaignId, reason).catch((err: unknown) => halt({ reason: 'fatal', message: `database error: ${errorMessage(err)}` }));
    }
  };

  const handle = async (row: ClaimedDelivery): Promise<void> => {
    touched.add(row.campaign_id);
    if (stopController.signal.aborted || pausedHere.has(row.campaign_id)) {
      results.add({ id: row.id, status: 'queued', error: null });
      return;
    }
    if (row.suppressed) {
      status.skipped += 1;
      results.add({ id: row.id, status: 'skipped', error: 'suppressed' });
      return;
    }
    let compiledCampaign: CompiledCampaign;
    try {
      compiledCampaign = await compiledFor(row.campaign_id);
    } catch (err) {
      // Without its content a campaign cannot be sent by anyone here: pause it, visibly.
      if (!pausedHere.has(row.campaign_id)) {
        pausedHere.add(row.campaign_id);
        const reason = `cannot load the campaign: ${errorMessage(err)}`;
        result.paused.push({ campaign: row.campaign_id, reason });
        await pauseCampaign(db, row.campaign_id, reason);
      }
      results.add({ id: row.id, status: 'queued', error: null });
      return;
    }
    let message: OutgoingMessage;
    try {
      const r = compiledCampaign.render({
        subscriberId: row.subscriber_id, email: row.email, first_name: row.first_name, last_name: row.last_name,
        timezone: row.timezone, attributes: row.attributes,
      });
      message = {
        to: row.email, from: r.from, replyTo: r.replyTo, subject: r.subject, html: r.html, text: r.text, headers: r.headers,
        listManagement: r.listManagement, deliveryId: row.id, campaignId: row.campaign_id, transactional: compiledCampaign.campaign.transactional,
        tags: [{ name: 'campaign', value: String(row.campaign_id) }, { name: 'delivery', value: row.id }],
      };
    } catch (err) {
      status.failed += 1;
      results.add({ id: row.id, status: 'failed', error: `render: ${errorMessage(err)}` });
      return;
    }
    await limiter.take(stopController.signal);
    if (stopController.signal.aborted) {
      results.add({ id: row.id, status: 'queued', error: null });
      return;
    }
    // Recorded before the request leaves: if this process dies from here on, the row becomes
    // `unknown` rather than being sent again.
    if (!(await attempts.add(row.id))) return;
    const outcome = await sendWithRetry(message);
    switch (outcome.kind) {
      case 'sent':
        status.sent += 1;
        consecutiveFailures.set(row.campaign_id, 0);
        results.add({ id: row.id, status: 'sent', messageId: outcome.messageId, at: clock.now() });
        return;
      case 'failed':
        status.failed += 1;
        results.add({ id: row.id, status: 'failed', error: outcome.error });
        noteFailure(row.campaign_id, outcome.error);
        return;
      case 'unknown':
        status.unknown += 1;
        results.add({ id: row.id, status: 'unknown', error: outcome.error });
        // Timeouts in a row point at the network or SES, not at this recipient.
        noteFailure(row.campaign_id, outcome.error);
        return;
      case 'retry':
        // Proven not accepted, but still refused after every attempt. Throttled: straight back
        // to the queue, the slowed limiter does the pacing. Server errors: at once the first
        // time, then a minute more for each further round (so a dispatch without --wait ends
        // instead of reclaiming it forever), and after MAX_CLAIMS rounds, failed for good.
        if (outcome.throttled) {
          retrying.add(row.id);
          results.add({ id: row.id, status: 'queued', error: outcome.error });
        } else if (row.attempts >= MAX_CLAIMS) {
          status.failed += 1;
          results.add({ id: row.id, status: 'failed', error: `gave up after ${row.attempts} rounds of retries: ${outcome.error}` });
        } else {
          retrying.add(row.id);
          results.add({ id: row.id, status: 'queued', error: outcome.error, retryAfterSeconds: 60 * (row.attempts - 1) });
        }
        return;
      case 'fatal':
        results.add({ id: row.id, status: 'queued', error: outcome.error });
        halt({ reason: 'fatal', message: outcome.error });
        return;
    }
  };

  const inFlight = new Set<Promise<void>>();
  try {
    result.recovered = await recoverExpiredLeases(db);
    let lastHousekeeping = 0;
    while (!stopController.signal.aborted) {
      const nowMs = performance.now();
      if (nowMs - lastHousekeeping > 5_000) {
        lastHousekeeping = nowMs;
        const rec = await withDbRetry(() => recoverExpiredLeases(db));
        result.recovered.requeued += rec.requeued;
        result.recovered.unknown += rec.unknown;
        status.skipped += await withDbRetry(() => skipLateDeliveries(db, clock.now(), o.campaignId));
      }
      // Keep about one batch in flight and claim the next while it drains, so the pipe never
      // empties between batches and never holds more than two.
      while (inFlight.size > batchSize) await Promise.race(inFlight);
      const rows = await withDbRetry(() => claimDeliveries(db, { worker: o.worker, limit: batchSize, now: clock.now(), leaseSeconds: config.leaseSeconds, campaignId: o.campaignId }));
      if (rows.length > 0) {
        status.waiting = false;
        for (const row of rows) {
          retrying.delete(row.id);
          const p: Promise<void> = limit(() => handle(row)).catch((err: unknown) => {
            // A database error while recording: the lease will lapse and recovery settles the row.
            halt({ reason: 'fatal', message: `database error: ${errorMessage(err)}` });
          }).finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        continue;
      }
      await Promise.all(inFlight);
      lastHousekeeping = 0;
      await results.drain();
      // Nothing is in flight here, so any row still claimed by this worker and never attempted
      // is an orphan of a claim whose reply was lost to a dropped connection: give it back.
      await withDbRetry(() => releaseUnattempted(db, o.worker));
      if (!o.wait) {
        // The claim that came back empty raced the last batch: rows throttled (or refused with
        // a 5xx for the first round) in it were requeued after that claim. Go round again while
        // any of them is due; one refused for a second whole round waits a minute or more, for
        // a later dispatch (SES is having an outage, not a hiccup).
        const retryAt = retrying.size > 0 ? await withDbRetry(() => nextRetryDue(db, [...retrying])) : undefined;
        if (!retryAt || retryAt > clock.now()) break;
        continue;
      }
      if (!(await hasPendingWork(db, o.campaignId))) break;
      status.nextWave = await nextDueAt(db, o.campaignId);
      status.waiting = true;
      report();
      const pollMs = o.pollMs ?? 15_000;
      // Nothing queued but rows still in flight elsewhere: look again when a lease could lapse.
      const untilNext = status.nextWave ? status.nextWave.getTime() - clock.now().getTime() : Math.min(pollMs, config.leaseSeconds * 500);
      await clock.sleep(Math.max(50, Math.min(pollMs, untilNext)), stopController.signal);
    }
    await Promise.all(inFlight);
  } finally {
    // Even when the loop ends on an error, let the sends in flight finish and be recorded.
    // (Aborting makes handles still waiting for a slot give their rows back.)
    if (inFlight.size > 0) stopController.abort();
    await Promise.allSettled([...inFlight]);
    clearInterval(heartbeat);
    clearInterval(reportTimer);
    await attempts.drain();
    await results.drain();
    await releaseUnattempted(db, o.worker).catch(() => undefined);
  }
  result.campaigns = [...touched].sort((a, b) => a - b);
  const candidates = o.campaignId !== undefined ? [...new Set([...result.campaigns, o.campaignId])] : result.campaigns;
  result.finished = await finishCampaigns(db, candidates);
  report();
  Object.assign(result, status, { stopped: stop });
  return result;
}
