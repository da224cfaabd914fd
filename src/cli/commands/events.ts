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

function positiveInt(name: string, min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw inputError('BAD_OPTION', `${name} must be a whole number from ${min} to ${max}, got "${v}".`);
    return n;
  };
}

export function registerEvents(program: Command): void {
  const events = program.command('events').description('Bring SES events (deliveries, bounces, complaints, opens, clicks) into the database');

  events
    .command('ingest')
    .description('Store SES event records from a JSON or JSON-lines file (or - for stdin): replays, S3 exports, tests')
    .argument('<file>', 'JSON / JSON-lines file, or - for stdin')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
Each line may hold one record, an SNS envelope, or an array of either; a whole file may also be
one JSON document. Records already stored are recognised and change nothing.

Examples:
  $ marketer events ingest ses-events.jsonl
  $ aws s3 cp s3://my-bucket/ses/2026/12/01/events.json - | marketer events ingest - --json
`,
    )
    .action(async (file: string, _opts, cmd: Command) => {
      const ctx = commandContext(cmd);
      await withDatabase(ctx, async ({ db }) => {
        const progress = ctx.out.meter('Ingesting events', 'stored');
        // The share read of the file (a stream from stdin has no size): batches are stored as
        // they are read, so it is how far along the ingest is, give or take a batch.
        let fraction: number | undefined;
        const batches = readRecordFile(file, process.stdin, undefined, (read, size) => { fraction = size ? Math.min(1, read / size) : undefined; });
        const result = await ingestBatches(db, batches, { softBounceLimit: ctx.config.softBounceLimit, topic: ctx.config.listManagement?.topic, keepPayload: ctx.config.eventsPayload === 'full' }, (t) =>
          progress.update({ done: t.ingested, fraction, note: ingestNote(t) }),
        );
        progress.done();
        report(ctx, result, 'Ingested');
      });
    });

  events
    .command('pull')
    .description('Long-poll the SQS queue fed by the SES configuration set (via SNS) and store the events')
    .option('--queue-url <url>', 'SQS queue URL (default: sqs_queue_url in marketer.yaml)')
    .option('--max <n>', 'stop after this many messages (default: until the queue is empty)', positiveInt('--max', 1, 100_000_000))
    .option('--wait-seconds <s>', 'long-poll wait per receive, 0 to 20', positiveInt('--wait-seconds', 0, 20), 20)
    .option('--follow', 'keep pulling until interrupted (Ctrl-C finishes the batch in hand, then exits)')
    .option('--allow-ephemeral-db', 'allow pulling into the embedded database on a CI runner (the events are deleted from the queue)')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
Messages are deleted from the queue only after their events are committed, so a crash re-reads
them and the dedupe key keeps the second read harmless.

Examples:
  $ marketer events pull --queue-url https://sqs.eu-west-1.amazonaws.com/123456789012/ses-events
  $ marketer events pull --follow
`,
    )
    .action(async (opts: { queueUrl?: string; max?: number; waitSeconds: number; follow?: boolean; allowEphemeralDb?: boolean }, cmd: Command) => {
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
    });

  events
    .command('prune')
    .description('Delete events older than events_retention (or --older-than); report rollups are kept')
    .option('--older-than <period>', 'e.g. 400d, 56w, 13m, 1y (default: events_retention in marketer.yaml)', retentionDays)
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
On TimescaleDB whole chunks are dropped and a retention policy (drop_chunks) is kept in step with
the period; on plain Postgres rows are deleted in batches. \`events pull\` does the same after each
pull when events_retention is set. Campaign figures (marketer stats) do not change.

Examples:
  $ marketer events prune --older-than 400d
  $ MARKETER_EVENTS_RETENTION=13m marketer events prune --json
`,
    )
    .action(async (opts: { olderThan?: number }, cmd: Command) => {
      const ctx = commandContext(cmd);
      const days = opts.olderThan ?? ctx.config.eventsRetentionDays;
      if (days === undefined) throw inputError('NO_RETENTION', 'No retention period.', { hint: 'Pass --older-than 400d, or set events_retention in marketer.yaml (or MARKETER_EVENTS_RETENTION).' });
      await withDatabase(ctx, async ({ db }) => {
        const progress = ctx.out.progress('Pruning events');
        const r = await pruneEvents(db, { olderThanDays: days, onProgress: (n) => progress.update(`${formatNumber(n)} deleted`) });
        progress.done();
        if (ctx.out.json) ctx.out.printJson(prunedJson(r));
        else ctx.out.info(`${chalk.green('✔')} ${prunedLine(r)}`);
      });
    });

  events
    .command('recount')
    .description("Rebuild a campaign's report rollups from its stored events (after a backfill or restore)")
    .argument('<campaign>', 'campaign id or campaign YAML file')
    .option('--json', 'print one JSON document')
    .addHelpText('after', '\nIngest keeps the rollups current by itself; this is for events written around it.\n\nExample:\n  $ marketer events recount 42\n')
    .action(async (ref: string, _opts, cmd: Command) => {
      const ctx = commandContext(cmd);
      const campaign = campaignIdOf(ref);
      await withDatabase(ctx, async ({ db }) => {
        const r = await recountRollups(db, campaign);
        if (ctx.out.json) ctx.out.printJson({ campaign, events: r.events });
        else ctx.out.info(`${chalk.green('✔')} Recounted ${plural(r.events, 'event')} of campaign ${campaign}.`);
      });
    });
}
