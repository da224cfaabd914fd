import type { Config } from '../config/config.js';
import { inputError, type MarketerError } from '../errors.js';
import { describeAwsError } from './aws-error.js';
import type { Mailer, SendQuota } from './mailer.js';
import type { PlanCheck, PlanQuota } from './plan-campaign.js';
import { bareAddress, identityCandidates, type SharedDomain } from './sender-domains.js';
import type { EmailIdentityInfo, SesSetupReader } from './ses-account.js';

/**
 * Checks made before the first message of a send (and shown by plan): is the From address
 * covered by a verified SES identity, and how fast may marketer send. They run before dispatch,
 * never inside its loop.
 */

export interface SenderCheck {
  address: string;
  /** unknown: the identity could not be read (permission, endpoint); SES itself still refuses an unverified sender. */
  status: 'verified' | 'unverified' | 'unknown';
  /** The identity that covers the address (verified), or the closest one SES knows (unverified). */
  identity: string | undefined;
  detail: string;
  fix: string | undefined;
}

/** GetEmailIdentity on the address, its domain and its parent domains, stopping at the first verified one. */
export async function checkSender(reader: Pick<SesSetupReader, 'identity'>, from: string): Promise<SenderCheck> {
  const address = bareAddress(from);
  const candidates = identityCandidates(address);
  let closest: EmailIdentityInfo | undefined;
  for (const name of candidates) {
    let info: EmailIdentityInfo | undefined;
    try {
      info = await reader.identity(name);
    } catch (err) {
      const e = describeAwsError(err);
      return {
        address, status: 'unknown', identity: undefined,
        detail: `could not read the SES identity ${name} (GetEmailIdentity): ${e.line}`,
        fix: e.kind === 'access-denied'
          ? 'grant the role ses:GetEmailIdentity (docs/aws-setup.md) so marketer can check the sender before sending'
          : 'check ses_endpoint, aws_region and the credentials; marketer doctor shows the whole setup',
      };
    }
    if (info?.verifiedForSending) {
      return { address, status: 'verified', identity: name, detail: `${address} is covered by the verified SES identity ${name}`, fix: undefined };
    }
    closest ??= info;
  }
  const domain = candidates[1]!;
  if (closest) {
    const status = closest.verificationStatus ?? 'not verified';
    return {
      address, status: 'unverified', identity: closest.name,
      detail: `the SES identity ${closest.name} is ${status.toLowerCase().replace(/_/g, ' ')}, and no other identity covers ${address}`,
      fix: closest.type === 'EMAIL_ADDRESS'
        ? `click the link in the verification mail SES sent to ${closest.name}, or verify the domain: aws sesv2 create-email-identity --email-identity ${domain}`
        : `publish the identity's DKIM CNAME records (aws sesv2 get-email-identity --email-identity ${closest.name} --query DkimAttributes.Tokens); SES verifies the domain once they resolve. marketer doctor shows what is missing`,
    };
  }
  return {
    address, status: 'unverified', identity: undefined,
    detail: `no SES identity covers ${address} (checked ${candidates.join(', ')})`,
    fix: `verify the domain: aws sesv2 create-email-identity --email-identity ${domain}, then publish its DKIM CNAME records (docs/aws-setup.md)`,
  };
}

/** One SES read per distinct From address in a run. */
export function senderChecker(reader: Pick<SesSetupReader, 'identity'>): (from: string) => Promise<SenderCheck> {
  const seen = new Map<string, Promise<SenderCheck>>();
  return (from) => {
    const key = bareAddress(from);
    let check = seen.get(key);
    if (!check) {
      check = checkSender(reader, from);
      seen.set(key, check);
    }
    return check;
  };
}

/** The refusal `send` ends with when the sender is not verified; undefined when it may go on. */
export function senderRefusal(check: SenderCheck, campaign: number): MarketerError | undefined {
  if (check.status !== 'unverified') return undefined;
  return inputError('SENDER_UNVERIFIED', `Campaign ${campaign}: the From address ${check.address} is not verified in SES: ${check.detail}. Nothing was sent.`, { hint: check.fix });
}

export interface RateDecision {
  rate: number;
  source: string;
  /** Said loudly when set: the quota could not be read and the configured rate is used blind. */
  warning: string | undefined;
  quota: SendQuota | undefined;
}

/**
 * Messages per second for this run: --rate, else `rate`, else a share of SES's MaxSendRate.
 * When GetAccount fails, a configured rate is used with a warning, and without one the send is
 * refused: guessing (the old silent 1/s) either crawls or gets the account throttled.
 */
export async function decideRate(config: Config, mailer: Mailer, flagRate?: number): Promise<RateDecision> {
  const configured = flagRate ?? config.rate;
  const configuredSource = flagRate ? '--rate' : 'rate setting';
  let quota: SendQuota | undefined;
  try {
    quota = await mailer.quota();
  } catch (err) {
    const line = describeAwsError(err).line;
    if (configured) {
      return {
        rate: configured, source: configuredSource, quota: undefined,
        warning: `could not read the SES sending quota (GetAccount): ${line}. Sending at the configured ${configured}/s without knowing the account's limit; grant ses:GetAccount so marketer can check it.`,
      };
    }
    throw inputError('QUOTA_UNREADABLE', `Could not read the SES sending quota (GetAccount): ${line}. Without it marketer does not know how fast the account may send, so nothing was sent.`, {
      hint: 'Grant the role ses:GetAccount (docs/aws-setup.md), or set rate in marketer.yaml (MARKETER_RATE, or --rate) to the messages per second your account allows.',
    });
  }
  if (configured) return { rate: configured, source: configuredSource, quota, warning: undefined };
  if (!quota) return { rate: 2000, source: mailer.name, quota, warning: undefined };
  return { rate: Math.max(1, quota.maxSendRate * config.rateShare), source: `${Math.round(config.rateShare * 100)}% of SES MaxSendRate ${quota.maxSendRate}/s`, quota, warning: undefined };
}

/** What plan adds to a campaign's checks: the sender identity, the sandbox, the rate send would use, a shared From domain. */
export function preflightPlanChecks(o: { config: Config; quota: PlanQuota; sender: SenderCheck | undefined; shared: SharedDomain | undefined; transactional: boolean }): PlanCheck[] {
  const checks: PlanCheck[] = [];
  const { sender, quota, config } = o;
  if (sender) {
    checks.push(sender.status === 'verified'
      ? { name: 'sender identity', ok: true, detail: sender.detail }
      : sender.status === 'unverified'
        ? { name: 'sender identity', ok: false, detail: `${sender.detail}; send would refuse. Fix: ${sender.fix}` }
        : { name: 'sender identity', ok: true, warning: true, detail: `${sender.detail}; not checked. Fix: ${sender.fix}` });
  }
  if (quota.production_access === false) {
    checks.push({
      name: 'SES sandbox', ok: true, warning: true,
      detail: 'the account is in the SES sandbox: every recipient must be a verified SES identity too (others are rejected), and at most 200 messages per 24 hours at 1 per second. Fix: request production access (docs/aws-setup.md)',
    });
  }
  if (quota.transport === 'ses' && quota.max_send_rate === null) {
    checks.push(config.rate
      ? { name: 'sending rate', ok: true, warning: true, detail: `the SES quota could not be read; send would use the configured rate ${config.rate}/s blind. Fix: grant ses:GetAccount` }
      : { name: 'sending rate', ok: false, detail: 'the SES quota could not be read and no rate is set; send would refuse. Fix: grant ses:GetAccount, or set rate in marketer.yaml' });
  }
  if (o.shared) {
    const others = o.transactional ? o.shared.marketing : o.shared.transactional;
    checks.push({
      name: 'transactional apart', ok: true, warning: true,
      detail: `${o.shared.domain} also sends ${o.transactional ? 'marketing' : 'transactional'} campaign${others.length === 1 ? '' : 's'} ${others.join(', ')}: complaints about marketing mail would hurt the transactional mail's reputation. Fix: send transactional mail from another domain or a subdomain`,
    });
  }
  return checks;
}
