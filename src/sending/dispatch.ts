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
  claimDeliveries, dueQueued, finishCampaigns, hasPendingWork, markAttempted, nextDueAt, nextRetryDue, recordResults,
  recoverExpiredLeases, releaseUnattempted, renewLeases, skipLateDeliveries, type ClaimedDelivery, type DeliveryResult,
} from './ledger.js';
import type { ErrorGroup } from '../error-groups.js';
import type { Mailer, OutgoingMessage } from './mailer.js';
import type { PausedCampaign } from './policy/campaign-pauses.js';
import { SendingPolicy, type WarmupStatus } from './policy/sending-policy.js';
import { nextUtcDay } from './policy/warmup-cap.js';
import { renderDelivery } from './render-delivery.js';
import { decideDueTests, type WinnerDecision } from '../experiments/decide-due-tests.js';

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
  paused: PausedCampaign[];
  /** GetAccount's warning about the account (enforcement status PROBATION), if any. */
  accountWarning?: string;
  /** This run's failed deliveries, per campaign and (normalised) error. */
  errors: (ErrorGroup & { campaign: number })[];
  /** Today's warm-up cap, when one applies; heldBack: due deliveries it left for tomorrow. */
  warmup?: WarmupStatus & { heldBack: number };
  /** Why the run ended early, if it did. */
  stopped: { reason: 'fatal' | 'interrupted'; message: string } | undefined;
  recovered: { requeued: number; unknown: number };
  /** A/B test winners this run chose. */
  decided: WinnerDecision[];
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
 * Send what is due: claim batches of due deliveries, render each, send with bounded
 * concurrency, record each outcome. Whether and how fast a row goes out (pace, retries, pause
 * rules) is the policy's call (policy/). Memory stays flat: at most a couple of batches are
 * held, however long the list.
 */
export async function dispatch(deps: DispatchDeps, o: DispatchOptions): Promise<DispatchResult> {
  const { db, mailer, config } = deps;
  const clock = deps.clock ?? systemClock;
  const batchSize = o.batchSize ?? Math.max(50, o.concurrency * 4);
  const limit = pLimit(o.concurrency);
  const startedAt = performance.now();
  const status: DispatchStatus = { sent: 0, failed: 0, unknown: 0, skipped: 0, retries: 0, throttled: 0, rate: o.rate, achieved: 0, nextWave: undefined, waiting: false };
  const result: DispatchResult = { ...status, campaigns: [], finished: [], paused: [], errors: [], stopped: undefined, recovered: { requeued: 0, unknown: 0 }, decided: [] };
  const touched = new Set<number>();
  // Rows this run gave back to the queue because SES refused them for now (throttled, 5xx): a
  // run without --wait still owes them, and ends only once none of them is queued.
  const retrying = new Set<string>();
  let stop: DispatchResult['stopped'];
  const stopController = new AbortController();
  const halt = (s: NonNullable<DispatchResult['stopped']>) => {
    stop ??= s;
    stopController.abort();
  };
  const dbFailed = (err: unknown) => halt({ reason: 'fatal', message: `database error: ${errorMessage(err)}` });
  deps.signal?.addEventListener('abort', () => halt({ reason: 'interrupted', message: 'interrupted' }), { once: true });
  if (deps.signal?.aborted) halt({ reason: 'interrupted', message: 'interrupted' });
  const policy = new SendingPolicy(db, config, { rate: o.rate, maxAttempts: o.maxAttempts, clock, signal: stopController.signal, account: () => mailer.quota(), onAccountStop: (message) => halt({ reason: 'fatal', message }) });
  const compiledFor = campaignCompiler(deps, o.allowChanged);
  const writers = ledgerWriters(db, o.worker, o.concurrency, dbFailed, (n) => policy.unclaimed(n));

  const heartbeat = setInterval(() => {
    renewLeases(db, o.worker, config.leaseSeconds).catch(() => undefined);
  }, Math.max(1000, (config.leaseSeconds * 1000) / 3));
  const report = () => {
    Object.assign(status, policy.counters);
    status.rate = policy.limiter.rate;
    const secs = (performance.now() - startedAt) / 1000;
    status.achieved = secs > 0 ? status.sent / secs : 0;
    deps.onStatus?.({ ...status });
  };
  const reportTimer = setInterval(report, 500);

  // The campaigns whose breakers this run watches: the one it was given, else every running one.
  const watched = () => (o.campaignId === undefined ? undefined : [o.campaignId]);
  const requeue = (row: ClaimedDelivery) => writers.results.add({ id: row.id, status: 'queued', error: null });

  /** Claim → render → send → record, for one row. */
  const handle = async (row: ClaimedDelivery): Promise<void> => {
    touched.add(row.campaign_id);
    if (stopController.signal.aborted || policy.pauses.has(row.campaign_id)) return requeue(row);
    if (row.suppressed) {
      status.skipped += 1;
      return writers.results.add({ id: row.id, status: 'skipped', error: 'suppressed' });
    }
    let message: OutgoingMessage;
    try {
      message = renderDelivery(await compiledFor(row.campaign_id), row);
    } catch (err) {
      if (err instanceof CampaignUnavailable) {
        // Without its content a campaign cannot be sent by anyone here: pause it, visibly.
        await policy.pauses.pause(row.campaign_id, `cannot load the campaign: ${errorMessage(err.cause)}`);
        return requeue(row);
      }
      status.failed += 1;
      return writers.results.add(policy.failed(row, `render: ${errorMessage(err)}`));
    }
    await policy.pace();
    if (stopController.signal.aborted) return requeue(row);
    // Recorded before the request leaves: if this process dies from here on, the row becomes
    // `unknown` rather than being sent again.
    if (!(await writers.attempts.add(row.id))) return;
    const outcome = await policy.send(() => mailer.send(message));
    const settled = policy.settle(row, outcome);
    if (settled.tally) status[settled.tally] += 1;
    if (outcome.kind === 'retry' && settled.result.status === 'queued') retrying.add(row.id);
    writers.results.add(settled.result);
    if (settled.pause) policy.pauses.pause(row.campaign_id, settled.pause).catch(dbFailed);
    if (outcome.kind === 'fatal') {
      await policy.refused(outcome.error).catch(dbFailed);
      halt({ reason: 'fatal', message: outcome.error });
    }
  };

  const inFlight = new Set<Promise<void>>();
  try {
    result.recovered = await recoverExpiredLeases(db);
    // -Infinity, not 0: performance.now() counts from the process's start, so 0 would skip the
    // first look (breakers, late waves) for the first 5 s of every run.
    let lastHousekeeping = -Infinity;
    while (!stopController.signal.aborted) {
      const nowMs = performance.now();
      if (nowMs - lastHousekeeping > 5_000) {
        lastHousekeeping = nowMs;
        const rec = await withDbRetry(() => recoverExpiredLeases(db));
        result.recovered.requeued += rec.requeued;
        result.recovered.unknown += rec.unknown;
        status.skipped += await withDbRetry(() => skipLateDeliveries(db, clock.now(), o.campaignId));
        await withDbRetry(() => policy.checkBreakers(watched()));
      }
      // Keep about one batch in flight and claim the next while it drains, so the pipe never
      // empties between batches and never holds more than two.
      while (inFlight.size > batchSize) await Promise.race(inFlight);
      const now = clock.now();
      // An A/B test whose rest is due gets its winner before anything of it is claimed.
      result.decided.push(...await withDbRetry(() => decideDueTests(db, now, o.worker, o.campaignId)));
      const rows = await withDbRetry(() => policy.claim(now, batchSize, (tx, limit) => claimDeliveries(tx, { worker: o.worker, limit, now, leaseSeconds: config.leaseSeconds, campaignId: o.campaignId })));
      if (rows.length > 0) {
        status.waiting = false;
        for (const row of rows) {
          retrying.delete(row.id);
          // A database error while recording: the lease will lapse and recovery settles the row.
          const p: Promise<void> = limit(() => handle(row)).catch(dbFailed).finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        continue;
      }
      await Promise.all(inFlight);
      lastHousekeeping = -Infinity;
      await writers.results.drain();
      // Nothing is in flight here, so any row still claimed by this worker and never attempted
      // is an orphan of a claim whose reply was lost to a dropped connection: give it back.
      await policy.unclaimed(await withDbRetry(() => releaseUnattempted(db, o.worker)));
      if (!o.wait) {
        // The claim that came back empty raced the last batch: rows throttled (or refused with
        // a 5xx for the first round) in it were requeued after that claim. Go round again while
        // any of them is due; one refused for a second whole round waits a minute or more, for
        // a later dispatch (SES is having an outage, not a hiccup).
        const retryAt = retrying.size > 0 ? await withDbRetry(() => nextRetryDue(db, [...retrying])) : undefined;
        if (!retryAt || retryAt > clock.now() || policy.warmup?.capped) break;
        continue;
      }
      if (!(await hasPendingWork(db, o.campaignId))) break;
      status.nextWave = await nextDueAt(db, o.campaignId);
      // Today's warm-up cap is reached: what is due waits for tomorrow.
      if (policy.warmup?.capped && status.nextWave && status.nextWave <= clock.now()) status.nextWave = nextUtcDay(clock.now());
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
    await writers.attempts.drain();
    await writers.results.drain();
    await releaseUnattempted(db, o.worker).then((n) => policy.unclaimed(n)).catch(() => undefined);
  }
  // Events ingested while the last batch went out can still trip a breaker.
  if (!stop) await withDbRetry(() => policy.checkBreakers(watched())).catch(dbFailed);
  result.campaigns = [...touched].sort((a, b) => a - b);
  const candidates = o.campaignId !== undefined ? [...new Set([...result.campaigns, o.campaignId])] : result.campaigns;
  result.finished = await finishCampaigns(db, candidates);
  report();
  Object.assign(result, status, { stopped: stop, paused: policy.pauses.list, errors: policy.failures.list(), accountWarning: policy.account.warning });
  if (policy.warmup) result.warmup = { ...policy.warmup, heldBack: policy.warmup.capped ? await dueQueued(db, clock.now(), o.campaignId) : 0 };
  return result;
}

/** A campaign whose content cannot be loaded (file gone, changed, invalid). */
class CampaignUnavailable extends Error {
  constructor(cause: unknown) {
    super(errorMessage(cause), { cause });
  }
}

/** Compiles each campaign once per run, from its row unless the caller supplies it. */
function campaignCompiler(deps: DispatchDeps, allowChanged: boolean | undefined): (id: number) => Promise<CompiledCampaign> {
  const { db, config } = deps;
  const compile = deps.compile ?? (async (campaignId: number) => {
    const row = await db.selectFrom('campaigns').select(['file', 'content_hash']).where('id', '=', campaignId).executeTakeFirstOrThrow();
    const campaign = await loadCampaign(path.resolve(config.root, row.file), config);
    if (campaign.contentHash !== row.content_hash && !allowChanged) {
      throw new Error(`${row.file} differs from the version this campaign started sending with; run "marketer send ${row.file}" to see what changed`);
    }
    return compileCampaign(campaign, config);
  });
  const compiled = new Map<number, Promise<CompiledCampaign>>();
  return (id) => {
    let p = compiled.get(id);
    if (!p) {
      p = compile(id).catch((err: unknown) => {
        throw new CampaignUnavailable(err);
      });
      compiled.set(id, p);
    }
    return p;
  };
}

/**
 * Ledger writes batched into few statements. A send slot does not wait for its result to be
 * written (that costs up to a flush delay per message); a failed write stops the run.
 */
function ledgerWriters(db: Kysely<Database>, worker: string, concurrency: number, failed: (err: unknown) => void, unclaimed: (n: number) => Promise<void>) {
  const attempts = new BatchWriter<string, boolean>(async (ids) => {
    const held = await withDbRetry(() => markAttempted(db, worker, ids));
    return ids.map((id) => held.has(id));
  }, { maxItems: concurrency, maxDelayMs: 2 });
  const resultWriter = new BatchWriter<DeliveryResult, void>(async (items) => {
    await withDbRetry(() => recordResults(db, worker, items));
    await unclaimed(items.filter((r) => r.status === 'queued' || r.status === 'skipped').length);
    return items.map(() => undefined);
  }, { maxItems: 200, maxDelayMs: 50 });
  return {
    attempts,
    results: {
      add(r: DeliveryResult): void {
        resultWriter.add(r).catch(failed);
      },
      drain: () => resultWriter.drain(),
    },
  };
}
