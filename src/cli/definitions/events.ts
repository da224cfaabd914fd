import type { Command } from 'commander';
import { inputError } from '../../errors.js';
import { lazyAction } from './lazy-action.js';

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
    .action(lazyAction(() => import('../commands/events.js'), (m) => m.ingestAction));

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
    .action(lazyAction(() => import('../commands/events.js'), (m) => m.pullAction));

  events
    .command('prune')
    .description('Delete events older than events_retention (or --older-than); report rollups are kept')
    .option('--older-than <period>', 'e.g. 400d, 56w, 13m, 1y (default: events_retention in marketer.yaml)')
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
    .action(lazyAction(() => import('../commands/events.js'), (m) => m.pruneAction));

  events
    .command('recount')
    .description("Rebuild a campaign's report rollups from its stored events, and its ledger counts from its deliveries (after a backfill or restore)")
    .argument('<campaign>', 'campaign id or campaign YAML file')
    .option('--json', 'print one JSON document')
    .addHelpText('after', '\nIngest and sending keep these current by themselves; this is for events or deliveries written around them.\n\nExample:\n  $ marketer events recount 42\n')
    .action(lazyAction(() => import('../commands/events.js'), (m) => m.recountAction));
}
