import chalk from 'chalk';
import type { Command } from 'commander';
import { ingestBatches, type IngestResult } from '../../events/ingest-events.js';
import { readRecordFile } from '../../events/file-source.js';
import { recountRollups } from '../../reports/recount-rollups.js';
import { pruneEvents, type PruneResult } from '../../events/prune-events.js';
import { parseRetention } from '../../config/config.js';
import { inputError } from '../../errors.js';
import { commandContext, refuseEphemeralDatabase, withDatabase, type CommandContext } from '../context.js';
import { byCount, formatNumber, plural } from '../format.js';
import { campaignIdOf } from './stats.js';

const MAX_PROBLEMS_SHOWN = 20;

function report(ctx: CommandContext, r: IngestResult, verb: string, pruned?: PruneResult): void {
  if (ctx.out.json) {
    const { problems, ...counts } = r;
    ctx.out.printJson({ ...counts, problems, ...(pruned ? { pruned: prunedJson(pruned) } : {}) });
    return;
  }
  for (const p of r.problems.slice(0, MAX_PROBLEMS_SHOWN)) ctx.out.warn(`${p.position}: skipped malformed record: ${p.reason}`);
  if (r.problems.length > MAX_PROBLEMS_SHOWN) ctx.out.warn(`… and ${formatNumber(r.problems.length - MAX_PROBLEMS_SHOWN)} more malformed ${byCount(r.problems.length - MAX_PROBLEMS_SHOWN, 'record', 'records')}.`);
  const parts = [
    plural(r.duplicates, 'duplicate'),
    `${formatNumber(r.unmatched)} unmatched`,
    `${formatNumber(r.malformed)} malformed`,
    `${formatNumber(r.unknown)} of unknown type`,
  ];
  ctx.out.info(`${chalk.green('✔')} ${verb} ${plural(r.ingested, 'event')} (${parts.join(', ')}).`);
  if (r.settled > 0) ctx.out.info(`  Settled ${plural(r.settled, 'send')} whose outcome was unknown.`);
  if (r.suppressed > 0) ctx.out.info(`  Suppressed ${plural(r.suppressed, 'address')} (hard bounces, complaints, unsubscribes).`);
  if (pruned) ctx.out.info(`  ${prunedLine(pruned)}`);
}

/** Duplicates and malformed records, beside the count of events stored. */
function ingestNote(t: IngestResult): string | undefined {
  const parts = [t.duplicates ? plural(t.duplicates, 'duplicate') : '', t.malformed ? `${formatNumber(t.malformed)} malformed` : ''].filter(Boolean);
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function prunedJson(p: PruneResult) {
  return { engine: p.engine, cutoff: p.cutoff, deleted: p.deleted, dropped_chunks: p.droppedChunks };
}

function prunedLine(p: PruneResult): string {
  return p.engine === 'timescaledb'
    ? `Dropped ${plural(p.droppedChunks, 'chunk')} of events older than ${p.cutoff}.`
    : `Deleted ${plural(p.deleted, 'event')} older than ${p.cutoff}.`;
}

function retentionDays(v: string): number {
  const problems: string[] = [];
  const days = parseRetention(v, problems);
  if (days === undefined || problems.length > 0) throw inputError('BAD_OPTION', `--older-than "${v}" is not a period (e.g. 400d, 56w, 13m, 1y).`);
  return days;
}

export async function ingestAction(file: string, _opts: unknown, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  await withDatabase(ctx, async ({ db }) => {
    const progress = ctx.out.meter('Ingesting events', 'stored');
    // The share read of the file (a stream from stdin has no size): batches are stored as
    // they are read, so it is how far along the ingest is, give or take a batch.
    let fraction: number | undefined;
    const keepPayload = ctx.config.eventsPayload === 'full';
    const batches = readRecordFile(file, process.stdin, {
      keepPayload,
      onRead: (read, size) => { fraction = size ? Math.min(1, read / size) : undefined; },
    });
    const result = await ingestBatches(db, batches, { softBounceLimit: ctx.config.softBounceLimit, topic: ctx.config.listManagement?.topic, keepPayload }, (t) =>
      progress.update({ done: t.ingested, fraction, note: ingestNote(t) }),
    );
    progress.done();
    report(ctx, result, 'Ingested');
  });
}

export async function pullAction(opts: { queueUrl?: string; max?: number; waitSeconds: number; follow?: boolean; allowEphemeralDb?: boolean }, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  refuseEphemeralDatabase(ctx, 'events pull', opts.allowEphemeralDb);
  const queueUrl = opts.queueUrl ?? ctx.config.sqsQueueUrl;
  if (!queueUrl) {
    throw inputError('NO_QUEUE', 'No SQS queue to pull from.', { hint: 'Pass --queue-url, or set sqs_queue_url in marketer.yaml (or MARKETER_SQS_QUEUE_URL).' });
  }
  await withDatabase(ctx, async ({ db }) => {
    const stop = new AbortController();
    const onSignal = () => {
      if (stop.signal.aborted) process.exit(130);
      if (!ctx.out.json) process.stderr.write(chalk.dim('\nFinishing the batch in hand (Ctrl-C again to quit at once)…\n'));
      stop.abort();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const progress = ctx.out.meter('Pulling events', 'messages');
    try {
      // Loaded here so that other commands do not pay for the SQS client at start-up.
      const { pullEvents } = await import('../../events/sqs-source.js');
      const result = await pullEvents(db, {
        queueUrl,
        region: ctx.config.awsRegion,
        max: opts.max,
        waitSeconds: opts.waitSeconds,
        follow: Boolean(opts.follow),
        signal: stop.signal,
        ingest: { softBounceLimit: ctx.config.softBounceLimit, topic: ctx.config.listManagement?.topic, keepPayload: ctx.config.eventsPayload === 'full' },
        onBatch: (t, queue) => progress.update({ done: queue.received, total: queue.waiting === undefined || opts.follow ? undefined : queue.waiting + queue.received, estimated: true, note: `${formatNumber(t.ingested)} events stored${t.duplicates ? `, ${plural(t.duplicates, 'duplicate')}` : ''}` }),
      });
      progress.done();
      // Retention runs where events arrive, so a scheduled pull is all it takes.
      const days = ctx.config.eventsRetentionDays;
      report(ctx, result, 'Pulled', days === undefined ? undefined : await pruneEvents(db, { olderThanDays: days }));
    } finally {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    }
  });
}

export async function pruneAction(opts: { olderThan?: string }, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  // Parsed here rather than as the option is read, so that the definitions load no config code.
  const days = opts.olderThan === undefined ? ctx.config.eventsRetentionDays : retentionDays(opts.olderThan);
  if (days === undefined) throw inputError('NO_RETENTION', 'No retention period.', { hint: 'Pass --older-than 400d, or set events_retention in marketer.yaml (or MARKETER_EVENTS_RETENTION).' });
  await withDatabase(ctx, async ({ db }) => {
    const progress = ctx.out.progress('Pruning events');
    const r = await pruneEvents(db, { olderThanDays: days, onProgress: (n) => progress.update(`${formatNumber(n)} deleted`) });
    progress.done();
    if (ctx.out.json) ctx.out.printJson(prunedJson(r));
    else ctx.out.info(`${chalk.green('✔')} ${prunedLine(r)}`);
  });
}

export async function recountAction(ref: string, _opts: unknown, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  const campaign = campaignIdOf(ref);
  await withDatabase(ctx, async ({ db }) => {
    const r = await recountRollups(db, campaign);
    if (ctx.out.json) ctx.out.printJson({ campaign, events: r.events });
    else ctx.out.info(`${chalk.green('✔')} Recounted ${plural(r.events, 'event')} of campaign ${campaign}.`);
  });
}
