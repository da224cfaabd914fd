import { createServer } from 'node:http';
import chalk from 'chalk';
import type { Command } from 'commander';
import { confirmSubscription, httpsCertFetcher } from '../../events/sns-verify.js';
import { inputError, MarketerError } from '../../errors.js';
import { createRequestHandler } from '../../serve/handle-request.js';
import { commandContext, withDatabase } from '../context.js';

export async function serveAction(opts: { port: string; host: string }, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  const port = Number(opts.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw inputError('BAD_PORT', `--port must be 0–65535, got "${opts.port}".`);
  const log = (line: string) => process.stderr.write(`${chalk.dim(new Date().toISOString())} ${line}\n`);
  if (!ctx.config.unsubscribeSecret) ctx.out.warn('MARKETER_UNSUBSCRIBE_SECRET is not set: /u/<token> answers 503.');
  if (!ctx.config.apiToken) log('MARKETER_API_TOKEN is not set: the stats API is off.');
  if (!ctx.config.snsTopicArns) log('sns_topic_arns is not set: the SNS endpoint /sns is off.');
  await withDatabase(ctx, async ({ db }) => {
    const server = createServer(
      createRequestHandler({
        db,
        unsubscribeSecret: ctx.config.unsubscribeSecret,
        apiToken: ctx.config.apiToken,
        ingest: { softBounceLimit: ctx.config.softBounceLimit, topic: ctx.config.listManagement?.topic, keepPayload: ctx.config.eventsPayload === 'full' },
        fetchCert: httpsCertFetcher(),
        confirmSubscription: (url) => confirmSubscription(url),
        snsTopicArns: ctx.config.snsTopicArns,
        log,
      }),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new MarketerError('SERVE_LISTEN', `Cannot listen on ${opts.host}:${port}: ${err.code === 'EADDRINUSE' ? 'the port is in use' : err.message}`, { cause: err, hint: 'Pick another --port.' })));
      server.listen(port, opts.host, () => resolve());
    });
    const addr = server.address();
    const bound = typeof addr === 'object' && addr ? addr : { address: opts.host, port };
    const host = bound.address.includes(':') ? `[${bound.address}]` : bound.address;
    log(`marketer serve listening on http://${host}:${bound.port}`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        log('stopping: finishing requests in flight');
        server.close(() => resolve());
        server.closeIdleConnections();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  });
}
