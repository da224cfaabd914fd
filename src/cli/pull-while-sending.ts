import type { Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import { errorMessage } from '../errors.js';
import type { IngestResult } from '../events/ingest-events.js';
import type { CommandContext } from './context.js';

export interface BackgroundPull {
  /** Stop pulling (the batch in hand is committed first) and say what was stored. */
  stop(): Promise<IngestResult | undefined>;
}

/**
 * `send --wait` and `dispatch --wait` pull SES events from `sqs_queue_url` while they send, so
 * the circuit breakers see bounces and complaints during a long send instead of after it. A
 * failing pull does not stop the send; it is reported, since the breakers are blind without it.
 */
export function pullWhileSending(ctx: CommandContext, db: Kysely<Database>, queueUrl: string): BackgroundPull {
  const stop = new AbortController();
  const run = (async () => {
    const { pullEvents } = await import('../events/sqs-source.js');
    return pullEvents(db, {
      queueUrl, region: ctx.config.awsRegion, max: undefined, waitSeconds: 20, follow: true, signal: stop.signal,
      ingest: { softBounceLimit: ctx.config.softBounceLimit, topic: ctx.config.listManagement?.topic },
    });
  })().catch((err: unknown) => {
    ctx.out.warn(`pulling SES events from ${queueUrl} failed, so bounces and complaints are not watched during this send: ${errorMessage(err)}`);
    return undefined;
  });
  return {
    async stop() {
      stop.abort();
      return run;
    },
  };
}
