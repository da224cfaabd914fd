import type { Config } from '../config/config.js';
import { bareAddress, fromDomain, type SenderCampaign } from '../sending/sender-domains.js';
import type { SesSetupReader } from '../sending/ses-account.js';
import { accountChecks } from './account-checks.js';
import { configurationSetChecks, type ConfigurationSetRole } from './configuration-set-checks.js';
import type { DnsLookup } from './dns-lookup.js';
import { domainChecks } from './domain-checks.js';
import { queueCheck, type QueueReader } from './queue-check.js';
import type { DoctorReport } from './types.js';
import { unsubscribeCheck } from './unsubscribe-check.js';

export interface DoctorPorts {
  ses: SesSetupReader;
  dns: DnsLookup;
  queue: QueueReader;
}

/**
 * Every check a sender must pass, in the order a reader fixes them: the account, each From
 * domain (campaigns and marketer.yaml), the configuration sets, the event queue, unsubscribing.
 */
export async function runDoctor(config: Config, campaigns: SenderCampaign[], ports: DoctorPorts): Promise<DoctorReport> {
  const account = await accountChecks(ports.ses, { configured: config.rate, share: config.rateShare });
  const checks = [...account.checks];

  const addresses = new Map<string, Set<string>>();
  for (const from of [...(config.from ? [config.from] : []), ...campaigns.map((c) => c.from)]) {
    const domain = fromDomain(from);
    addresses.set(domain, (addresses.get(domain) ?? new Set()).add(bareAddress(from)));
  }
  const region = config.awsRegion ?? 'us-east-1';
  for (const [domain, set] of [...addresses].sort(([a], [b]) => a.localeCompare(b))) {
    checks.push(...(await domainChecks({ domain, addresses: [...set], ses: ports.ses, dns: ports.dns, region })));
  }

  const transactional = campaigns.filter((c) => c.transactional).map((c) => c.id).sort((a, b) => a - b);
  const roles: ConfigurationSetRole[] = [{ role: 'marketing', name: config.configurationSet, campaigns: [] }];
  if (config.transactionalConfigurationSet || transactional.length > 0) roles.push({ role: 'transactional', name: config.transactionalConfigurationSet, campaigns: transactional });
  const sets = await configurationSetChecks(ports.ses, roles, config.configurationSet);
  checks.push(...sets.checks);
  checks.push(await queueCheck({ queueUrl: config.sqsQueueUrl, snsTopicArns: config.snsTopicArns, topics: sets.topics, read: ports.queue }));
  checks.push(unsubscribeCheck(config));
  return { ok: checks.every((c) => c.status !== 'error'), checks };
}
