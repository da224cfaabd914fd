import type { Config } from '../config/config.js';
import type { Mailer } from './mailer.js';
import { OutboxMailer } from './outbox-mailer.js';
import { SesMailer } from './ses-mailer.js';

/** The transport named by `transport:` in marketer.yaml (MARKETER_TRANSPORT). */
export function createMailer(config: Config, o: { concurrency: number }): Mailer {
  if (config.transport === 'outbox') return new OutboxMailer(config.outboxDir);
  return new SesMailer({
    region: config.awsRegion,
    endpoint: config.sesEndpoint,
    configurationSet: config.configurationSet,
    transactionalConfigurationSet: config.transactionalConfigurationSet,
    maxSockets: o.concurrency,
  });
}
