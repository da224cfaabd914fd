import { describeAwsError } from '../sending/aws-error.js';
import type { SesAccountInfo, SesSetupReader } from '../sending/ses-account.js';
import { worst, type CheckStatus, type DoctorCheck } from './types.js';

/** The fix for a failed AWS read: the permission when it was refused, the setup otherwise. */
export function readFailureFix(kind: ReturnType<typeof describeAwsError>['kind'], permission: string): string {
  if (kind === 'access-denied') return `grant the role ${permission} (docs/aws-setup.md), or check that the AWS credentials are current`;
  if (kind === 'not-aws') return 'ses_endpoint points at something that is not SES: correct it, or remove it to use the region\'s SES endpoint';
  return 'check aws_region, the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID, …) and the network';
}

/** ses.account, ses.production_access, ses.quota; also returns what GetAccount said, for later checks. */
export async function accountChecks(ses: SesSetupReader, rate: { configured: number | undefined; share: number }): Promise<{ checks: DoctorCheck[]; account: SesAccountInfo | undefined }> {
  let account: SesAccountInfo;
  try {
    account = await ses.account();
  } catch (err) {
    const e = describeAwsError(err);
    const unknown = (id: string): DoctorCheck => ({ id, status: 'warn', detail: 'not checked: the account could not be read (see ses.account)', fix: 'fix ses.account first' });
    return {
      account: undefined,
      checks: [
        { id: 'ses.account', status: 'error', detail: `could not read the SES account (GetAccount): ${e.line}`, fix: readFailureFix(e.kind, 'ses:GetAccount') },
        unknown('ses.production_access'),
        unknown('ses.quota'),
      ],
    };
  }
  return { account, checks: [statusCheck(account), productionCheck(account), quotaCheck(account, rate)] };
}

function statusCheck(a: SesAccountInfo): DoctorCheck {
  const parts: { status: CheckStatus; detail: string; fix: string }[] = [];
  if (!a.sendingEnabled) {
    parts.push({ status: 'error', detail: 'sending is disabled for the account', fix: 'read why in the SES console (Account dashboard, Reputation metrics), fix the cause, then: aws sesv2 put-account-sending-attributes --sending-enabled' });
  }
  if (a.enforcementStatus === 'SHUTDOWN') {
    parts.push({ status: 'error', detail: 'the account is shut down by SES enforcement', fix: 'contact AWS Support from the SES console\'s Reputation metrics page' });
  } else if (a.enforcementStatus === 'PROBATION') {
    parts.push({ status: 'warn', detail: 'the account is under review (bounce or complaint rate too high)', fix: 'send only to recently engaged subscribers until the rates fall (bounces under 5%, complaints under 0.1%), and answer the review in the SES console' });
  }
  const missing = ['BOUNCE', 'COMPLAINT'].filter((r) => !a.suppressedReasons.includes(r));
  if (missing.length > 0) {
    parts.push({ status: 'warn', detail: `the account-level suppression list does not keep ${missing.join(' or ')}s`, fix: 'aws sesv2 put-account-suppression-attributes --suppressed-reasons BOUNCE COMPLAINT' });
  }
  if (parts.length === 0) {
    return { id: 'ses.account', status: 'ok', detail: `sending enabled, enforcement ${a.enforcementStatus ?? 'HEALTHY'}, the account suppression list keeps ${a.suppressedReasons.join(' and ')}`, fix: '' };
  }
  return { id: 'ses.account', status: worst(parts.map((p) => p.status)), detail: parts.map((p) => p.detail).join('; '), fix: parts.map((p) => p.fix).join('; ') };
}

function productionCheck(a: SesAccountInfo): DoctorCheck {
  if (a.productionAccess) return { id: 'ses.production_access', status: 'ok', detail: 'production access: mail goes to any recipient', fix: '' };
  return {
    id: 'ses.production_access', status: 'warn',
    detail: 'the account is in the SES sandbox: mail goes only to verified addresses, at most 200 per 24 hours and 1 per second',
    fix: 'request production access: SES console, Account dashboard, Request production access (or aws sesv2 put-account-details --production-access-enabled --mail-type MARKETING --website-url … --use-case-description …)',
  };
}

function quotaCheck(a: SesAccountInfo, rate: { configured: number | undefined; share: number }): DoctorCheck {
  const sending = rate.configured ? `marketer sends at the configured rate ${rate.configured}/s` : `marketer sends at ${Math.round(rate.share * 100)}% of it, ${Math.max(1, a.maxSendRate * rate.share).toFixed(1)}/s`;
  if (a.max24HourSend < 0) return { id: 'ses.quota', status: 'ok', detail: `unlimited 24-hour quota; max ${a.maxSendRate}/s; ${sending}`, fix: '' };
  const used = a.sentLast24Hours / Math.max(1, a.max24HourSend);
  const detail = `${a.sentLast24Hours.toLocaleString('en-US')} of ${a.max24HourSend.toLocaleString('en-US')} sent in the last 24 hours (${Math.round(used * 100)}%); max ${a.maxSendRate}/s; ${sending}`;
  const raise = 'wait for the 24-hour window to move on, or ask for a higher quota: SES console, Service quotas (Sending quota)';
  if (a.sentLast24Hours >= a.max24HourSend) return { id: 'ses.quota', status: 'error', detail: `the 24-hour quota is used up: ${detail}`, fix: raise };
  if (used > 0.8) return { id: 'ses.quota', status: 'warn', detail: `over 80% of the 24-hour quota is used: ${detail}`, fix: raise };
  return { id: 'ses.quota', status: 'ok', detail, fix: '' };
}
