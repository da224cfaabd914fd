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
    maxSockets: o.concurrency,
  });
}

/** Messages per second: `rate` if set, else a share of SES's MaxSendRate (outbox: no limit to speak of). */
export async function sendingRate(config: Config, mailer: Mailer): Promise<{ rate: number; source: string }> {
  if (config.rate) return { rate: config.rate, source: 'rate setting' };
  const quota = await mailer.quota().catch(() => undefined);
  if (!quota) return { rate: mailer.name === 'outbox' ? 2000 : 1, source: mailer.name === 'outbox' ? 'outbox' : 'SES quota unavailable' };
  return { rate: Math.max(1, quota.maxSendRate * config.rateShare), source: `${Math.round(config.rateShare * 100)}% of SES MaxSendRate ${quota.maxSendRate}/s` };
}
