import { describeAwsError } from '../sending/aws-error.js';
import type { SesSetupReader } from '../sending/ses-account.js';
import { readFailureFix } from './account-checks.js';
import type { DoctorCheck } from './types.js';

/** Without these the ledger, the suppression list and the circuit breakers go blind. */
const REQUIRED_EVENTS = ['SEND', 'DELIVERY', 'BOUNCE', 'COMPLAINT', 'REJECT'];
/** Reports need these; sending works without them. */
const WANTED_EVENTS = ['RENDERING_FAILURE', 'OPEN', 'CLICK', 'SUBSCRIPTION'];

export interface ConfigurationSetRole {
  role: 'marketing' | 'transactional';
  name: string | undefined;
  /** For the transactional role: the campaigns that would use it. */
  campaigns: number[];
}

/** configuration_set and configuration_set.events for each set; also the SNS topics events go to. */
export async function configurationSetChecks(ses: SesSetupReader, roles: ConfigurationSetRole[], marketingName: string | undefined): Promise<{ checks: DoctorCheck[]; topics: string[] }> {
  const checks: DoctorCheck[] = [];
  const topics: string[] = [];
  for (const r of roles) {
    if (!r.name) {
      checks.push(r.role === 'marketing'
        ? { id: 'configuration_set', status: 'warn', detail: 'no configuration_set: SES publishes no events, so bounces, complaints and unsubscribes never reach marketer', fix: 'create one with an event destination (docs/aws-setup.md) and set configuration_set in marketer.yaml' }
        : {
          id: 'configuration_set', status: 'warn',
          detail: `transactional campaign${r.campaigns.length === 1 ? '' : 's'} ${r.campaigns.join(', ')} share${r.campaigns.length === 1 ? 's' : ''} ${marketingName ? `the marketing configuration set ${marketingName}` : 'no configuration set'} with marketing mail`,
          fix: 'create a second configuration set for transactional mail and set transactional_configuration_set in marketer.yaml',
          configuration_set: marketingName ?? '',
        });
      continue;
    }
    const tag = { configuration_set: r.name };
    const label = `${r.role} configuration set ${r.name}`;
    let set;
    try {
      set = await ses.configurationSet(r.name);
    } catch (err) {
      const e = describeAwsError(err);
      checks.push({ id: 'configuration_set', status: 'error', detail: `could not read the ${label} (GetConfigurationSet): ${e.line}`, fix: readFailureFix(e.kind, 'ses:GetConfigurationSet'), ...tag });
      continue;
    }
    if (!set) {
      checks.push({ id: 'configuration_set', status: 'error', detail: `the ${label} does not exist: every send through it fails`, fix: `aws sesv2 create-configuration-set --configuration-set-name ${r.name} (docs/aws-setup.md), or correct the name in marketer.yaml`, ...tag });
      continue;
    }
    if (!set.sendingEnabled) {
      checks.push({ id: 'configuration_set', status: 'error', detail: `sending is disabled on the ${label}`, fix: `aws sesv2 put-configuration-set-sending-options --configuration-set-name ${r.name} --sending-enabled`, ...tag });
    } else if (r.role === 'transactional' && r.name === marketingName) {
      checks.push({ id: 'configuration_set', status: 'warn', detail: `transactional_configuration_set is the marketing set ${r.name}: their events and reputation are counted together`, fix: 'create a second configuration set for transactional mail and name it in transactional_configuration_set', ...tag });
    } else {
      checks.push({ id: 'configuration_set', status: 'ok', detail: `the ${label} exists and can send`, fix: '', ...tag });
    }
    checks.push({ ...(await eventsCheck(ses, r.name, label, topics)), ...tag });
  }
  return { checks, topics: [...new Set(topics)] };
}

async function eventsCheck(ses: SesSetupReader, name: string, label: string, topics: string[]): Promise<DoctorCheck> {
  const id = 'configuration_set.events';
  let destinations;
  try {
    destinations = await ses.eventDestinations(name);
  } catch (err) {
    const e = describeAwsError(err);
    return { id, status: 'error', detail: `could not read the event destinations of the ${label} (GetConfigurationSetEventDestinations): ${e.line}`, fix: readFailureFix(e.kind, 'ses:GetConfigurationSetEventDestinations') };
  }
  const enabled = destinations.filter((d) => d.enabled);
  for (const d of enabled) if (d.snsTopicArn) topics.push(d.snsTopicArn);
  const types = new Set(enabled.flatMap((d) => d.types));
  const missingRequired = REQUIRED_EVENTS.filter((t) => !types.has(t));
  const missingWanted = WANTED_EVENTS.filter((t) => !types.has(t));
  const all = [...REQUIRED_EVENTS, ...WANTED_EVENTS];
  const target = enabled.find((d) => d.snsTopicArn) ?? enabled[0];
  const fix = target
    ? `aws sesv2 update-configuration-set-event-destination --configuration-set-name ${name} --event-destination-name ${target.name} --event-destination '{"Enabled":true,"MatchingEventTypes":${JSON.stringify(all)}${target.snsTopicArn ? `,"SnsDestination":{"TopicArn":"${target.snsTopicArn}"}` : ''}}'`
    : `aws sesv2 create-configuration-set-event-destination --configuration-set-name ${name} --event-destination-name to-sns --event-destination '{"Enabled":true,"MatchingEventTypes":${JSON.stringify(all)},"SnsDestination":{"TopicArn":"arn:aws:sns:…"}}' (docs/aws-setup.md)`;
  if (enabled.length === 0) return { id, status: 'error', detail: `the ${label} has no enabled event destination: no events come back`, fix };
  if (missingRequired.length > 0) return { id, status: 'error', detail: `no destination publishes ${missingRequired.join(', ')}${missingWanted.length ? ` (nor ${missingWanted.join(', ')})` : ''}`, fix };
  if (missingWanted.length > 0) return { id, status: 'warn', detail: `no destination publishes ${missingWanted.join(', ')}: reports lack them`, fix };
  return { id, status: 'ok', detail: `${enabled.length} enabled destination${enabled.length === 1 ? ' publishes' : 's publish'} every event marketer reads`, fix: '' };
}
