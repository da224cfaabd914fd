import { DeleteMessageBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import type { Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import { MarketerError } from '../errors.js';
import { addCounts, emptyCounts, ingestRecords, type IngestOptions, type IngestResult } from './ingest-events.js';
import { unwrapRecords, type Malformed, type RecordInput } from './parse-ses-event.js';

export interface PullOptions {
  queueUrl: string;
  region: string | undefined;
  /** Stop after this many messages. */
  max: number | undefined;
  waitSeconds: number;
  /** Keep polling when the queue is empty, until `signal` aborts. */
  follow: boolean;
  signal: AbortSignal;
  ingest: IngestOptions;
  /**
   * After each batch: the events stored so far, the messages received, and how many more the
   * queue held by its own approximate count, read when the pull began (undefined if unreadable).
   */
  onBatch?: (total: IngestResult, queue: { received: number; waiting: number | undefined }) => void;
  /** An SQS client (tests pass one pointed at a local endpoint). */
  client?: SQSClient;
}

// SQS hands out at most 10 messages per receive; gathering ~100 before a commit keeps one
// transaction per 100 events without holding messages long enough to near their visibility
// timeout (30 s by default).
const BATCH_MESSAGES = 100;

/** `https://sqs.eu-west-1.amazonaws.com/…` → eu-west-1. */
export function regionOfQueue(url: string): string | undefined {
  try {
    return /^sqs[.-]([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(new URL(url).hostname)?.[1];
  } catch {
    return undefined;
  }
}

export function sqsClientFor(queueUrl: string, region: string | undefined): SQSClient {
  let host: string;
  try {
    host = new URL(queueUrl).hostname;
  } catch {
    throw new MarketerError('BAD_QUEUE_URL', `"${queueUrl}" is not a queue URL.`, { exitCode: 2, hint: 'It looks like https://sqs.<region>.amazonaws.com/<account>/<queue>.' });
  }
  const aws = host.endsWith('.amazonaws.com') || host.endsWith('.amazonaws.com.cn');
  return new SQSClient({
    region: region ?? regionOfQueue(queueUrl) ?? 'us-east-1',
    // A queue elsewhere (LocalStack, ElasticMQ) is reached at its own origin.
    ...(aws ? {} : { endpoint: new URL(queueUrl).origin }),
  });
}

/**
 * Receive, store, then delete: a message leaves the queue only after its rows are committed, so
 * a crash between the two re-reads it later, and the dedupe key makes the re-read harmless.
 * Malformed messages are reported and deleted too (they cannot become well formed).
 */
export async function pullEvents(db: Kysely<Database>, options: PullOptions): Promise<IngestResult> {
  const client = options.client ?? sqsClientFor(options.queueUrl, options.region);
  const total = emptyCounts();
  let received = 0;
  try {
    const waitingAtStart = options.onBatch ? await approximateMessages(client, options.queueUrl, options.signal) : undefined;
    while (!options.signal.aborted) {
      const messages: Message[] = [];
      let drained = false;
      while (messages.length < BATCH_MESSAGES) {
        const left = options.max === undefined ? 10 : Math.min(10, options.max - received - messages.length);
        if (left <= 0) break;
        let got: Message[];
        try {
          const r = await client.send(
            new ReceiveMessageCommand({
              QueueUrl: options.queueUrl,
              MaxNumberOfMessages: left,
              // Long-poll only while the batch is empty; after that take what is ready now.
              WaitTimeSeconds: messages.length === 0 ? options.waitSeconds : 0,
            }),
            { abortSignal: options.signal },
          );
          got = r.Messages ?? [];
        } catch (err) {
          if (options.signal.aborted) break;
          throw new MarketerError('SQS_RECEIVE_FAILED', `Cannot receive from ${options.queueUrl}: ${(err as Error).message}`, {
            cause: err,
            hint: 'Check the queue URL, AWS credentials (AWS_PROFILE or AWS_ACCESS_KEY_ID…) and the region.',
          });
        }
        messages.push(...got);
        if (got.length === 0) {
          drained = true;
          break;
        }
      }
      if (messages.length > 0) {
        received += messages.length;
        const records: RecordInput[] = [];
        const malformed: Malformed[] = [];
        for (const m of messages) {
          const position = `sqs message ${m.MessageId ?? '?'}`;
          let value: unknown;
          try {
            value = JSON.parse(m.Body ?? '');
          } catch {
            malformed.push({ position, reason: 'body is not JSON' });
            continue;
          }
          const u = unwrapRecords(value, position);
          records.push(...u.records);
          malformed.push(...u.malformed);
        }
        const r = await ingestRecords(db, records, options.ingest);
        r.problems.unshift(...malformed);
        r.malformed += malformed.length;
        addCounts(total, r);
        await deleteMessages(client, options.queueUrl, messages);
        options.onBatch?.(total, { received, waiting: waitingAtStart === undefined ? undefined : Math.max(0, waitingAtStart - received) });
      }
      if (options.max !== undefined && received >= options.max) break;
      if (drained && !options.follow) break;
    }
  } finally {
    if (!options.client) client.destroy();
  }
  return total;
}

/** The queue's ApproximateNumberOfMessages, or undefined when it cannot be read (no permission). */
async function approximateMessages(client: SQSClient, queueUrl: string, signal: AbortSignal): Promise<number | undefined> {
  try {
    const r = await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages'] }), { abortSignal: signal });
    const n = Number(r.Attributes?.ApproximateNumberOfMessages);
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

async function deleteMessages(client: SQSClient, queueUrl: string, messages: Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const chunk = messages.slice(i, i + 10).filter((m) => m.ReceiptHandle);
    if (chunk.length === 0) continue;
    const r = await client.send(
      new DeleteMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle! })),
      }),
    );
    // A message that failed to delete comes back after its visibility timeout; the dedupe key
    // makes that harmless, so it is not worth failing a committed batch for.
    void r;
  }
}
