import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { createDnsLookup } from '../../src/doctor/dns-lookup.js';
import { runDoctor } from '../../src/doctor/run-doctor.js';
import { sqsQueueReader } from '../../src/doctor/sqs-queue-reader.js';
import type { DoctorCheck, DoctorReport } from '../../src/doctor/types.js';
import type { SenderCampaign } from '../../src/sending/sender-domains.js';
import { SesSetup } from '../../src/sending/ses-account.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { runCli } from '../helpers/cli.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { DKIM_TOKENS, healthyWorld, queuePolicy, startSesStandIn, TOPIC_ARN, verifiedDomain, type SesStandIn } from '../helpers/ses-stand-in.js';

/**
 * Every doctor check against a real DNS server on 127.0.0.1 and a local SES/SQS stand-in, through
 * the real SDK clients and node:dns: healthy, then each way it fails.
 */
let dns: DnsServer;
let ses: SesStandIn;
const saved: Record<string, string | undefined> = {};
const AWS_ENV = { AWS_ACCESS_KEY_ID: 'AKIDLOCAL', AWS_SECRET_ACCESS_KEY: 'local-secret', AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

beforeAll(async () => {
  const w = healthyWorld();
  dns = await startDnsServer(w.zone);
  ses = await startSesStandIn(w.state);
  // The SDK's credential chain reads these in this process.
  for (const [k, v] of Object.entries(AWS_ENV)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await dns?.stop();
  await ses?.stop();
});
beforeEach(() => {
  const w = healthyWorld();
  ses.state = w.state;
  dns.zone = w.zone;
  dns.servfail.clear();
  ses.calls.length = 0;
});

const dir = mkdtempSync(path.join(tmpdir(), 'marketer-doctor-'));

function env(extra: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    ...AWS_ENV,
    MARKETER_TRANSPORT: 'ses',
    MARKETER_SES_ENDPOINT: ses.endpoint,
    MARKETER_CONFIGURATION_SET: 'marketing',
    MARKETER_SQS_QUEUE_URL: ses.queueUrl('ses-events'),
    MARKETER_DNS_SERVERS: dns.address,
    MARKETER_FROM: 'Jane from App <jane@example.com>',
    MARKETER_UNSUBSCRIBE_SECRET: 'a-long-test-secret-of-32-chars!!',
    MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u',
    ...extra,
  };
}

async function doctor(extra: Record<string, string | undefined> = {}, campaigns: SenderCampaign[] = []): Promise<DoctorReport> {
  const e = env(extra);
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  const config = loadConfig({ cwd: dir, env: e as NodeJS.ProcessEnv });
  const reader = new SesSetup({ region: config.awsRegion, endpoint: config.sesEndpoint });
  try {
    return await runDoctor(config, campaigns, { ses: reader, dns: createDnsLookup(config.dnsServers), queue: sqsQueueReader(config.awsRegion) });
  } finally {
    reader.close();
  }
}

function check(r: DoctorReport, id: string, where?: { domain?: string; configuration_set?: string }): DoctorCheck {
  const found = r.checks.filter((c) => c.id === id && (where?.domain === undefined || c.domain === where.domain) && (where?.configuration_set === undefined || c.configuration_set === where.configuration_set));
  expect(found, `${id} ${JSON.stringify(where ?? {})} in ${JSON.stringify(r.checks.map((c) => c.id))}`).toHaveLength(1);
  return found[0]!;
}

const identity = () => ses.state.identities['example.com']!;

describe('marketer doctor: a healthy setup', () => {
  it('passes every check, asking the DNS server and SES for each', async () => {
    const r = await doctor();
    expect(r.checks.filter((c) => c.status !== 'ok'), JSON.stringify(r.checks, null, 1)).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.checks.map((c) => c.id)).toEqual([
      'ses.account', 'ses.production_access', 'ses.quota',
      'identity.verified', 'identity.dkim', 'dns.dkim', 'identity.mail_from', 'dns.spf', 'dns.dmarc', 'dns.dmarc_alignment',
      'configuration_set', 'configuration_set.events', 'sqs.queue', 'unsubscribe',
    ]);
    expect(r.checks.filter((c) => c.domain === 'example.com')).toHaveLength(7);
    expect(check(r, 'ses.quota').detail).toBe('1,200 of 50,000 sent in the last 24 hours (2%); max 14/s; marketer sends at 80% of it, 11.2/s');
    expect(check(r, 'dns.spf').detail).toBe('bounce.example.com: "v=spf1 include:amazonses.com ~all"');
    expect(dns.queries).toEqual(expect.arrayContaining([
      `CNAME ${DKIM_TOKENS[0]}._domainkey.example.com`, 'TXT bounce.example.com', 'TXT _dmarc.example.com',
    ]));
    expect(ses.calls).toEqual(expect.arrayContaining(['GetAccount', 'GetEmailIdentity example.com', 'GetConfigurationSet marketing', 'GetConfigurationSetEventDestinations marketing', 'GetQueueAttributes ses-events']));
  });

  it('checks every From domain of the campaigns, and both configuration sets when transactional mail has its own', async () => {
    ses.state.identities['receipts.example.org'] = verifiedDomain('receipts.example.org');
    Object.assign(dns.zone, healthyWorld('receipts.example.org').zone);
    ses.state.configurationSets.receipts = ses.state.configurationSets.marketing!;
    const r = await doctor({ MARKETER_TRANSACTIONAL_CONFIGURATION_SET: 'receipts' }, [
      { id: 1, from: 'news@example.com', transactional: false },
      { id: 2, from: 'Shop <orders@receipts.example.org>', transactional: true },
    ]);
    expect(r.ok).toBe(true);
    expect(r.checks.filter((c) => c.domain === 'receipts.example.org').map((c) => c.status)).toEqual(Array(7).fill('ok'));
    expect(check(r, 'configuration_set', { configuration_set: 'receipts' }).detail).toBe('the transactional configuration set receipts exists and can send');
    expect(check(r, 'configuration_set.events', { configuration_set: 'receipts' }).status).toBe('ok');
  });
});

describe('marketer doctor: the SES account', () => {
  it('sending disabled or shut down is an error; probation and a suppression list without bounces warn', async () => {
    ses.state.account.SendingEnabled = false;
    let c = check(await doctor(), 'ses.account');
    expect(c).toMatchObject({ status: 'error', detail: 'sending is disabled for the account' });
    expect(c.fix).toContain('aws sesv2 put-account-sending-attributes --sending-enabled');

    ses.state.account = { ...healthyWorld().state.account, EnforcementStatus: 'SHUTDOWN' };
    expect(check(await doctor(), 'ses.account')).toMatchObject({ status: 'error', detail: 'the account is shut down by SES enforcement' });

    ses.state.account = { ...healthyWorld().state.account, EnforcementStatus: 'PROBATION', SuppressionAttributes: { SuppressedReasons: ['COMPLAINT'] } };
    const r = await doctor();
    c = check(r, 'ses.account');
    expect(c.status).toBe('warn');
    expect(c.detail).toBe('the account is under review (bounce or complaint rate too high); the account-level suppression list does not keep BOUNCEs');
    expect(c.fix).toContain('aws sesv2 put-account-suppression-attributes --suppressed-reasons BOUNCE COMPLAINT');
    expect(r.ok).toBe(true);
  });

  it('a role without ses:GetAccount is an error naming the permission, in one clean line', async () => {
    ses.state.deny.add('GetAccount');
    const r = await doctor();
    const c = check(r, 'ses.account');
    expect(c.status).toBe('error');
    expect(c.detail).toMatch(/^could not read the SES account \(GetAccount\): AccessDeniedException \(HTTP 403\): User: .* is not authorized to perform: ses:GetAccount$/);
    expect(c.fix).toContain('grant the role ses:GetAccount');
    expect(check(r, 'ses.production_access').status).toBe('warn');
    expect(check(r, 'ses.quota').status).toBe('warn');
    expect(r.ok).toBe(false);
  });

  it('an endpoint that is not SES gets one line, not the SDK\'s advice to inspect a hidden field', async () => {
    const r = await doctor({ MARKETER_SES_ENDPOINT: `${ses.endpoint}/not-ses` });
    const c = check(r, 'ses.account');
    expect(c.status).toBe('error');
    expect(c.detail).not.toContain('$response');
    expect(c.detail).not.toContain('\n');
    expect(c.fix).toContain('ses_endpoint');
  });

  it('the sandbox warns that recipients must be verified', async () => {
    ses.state.account.ProductionAccessEnabled = false;
    const c = check(await doctor(), 'ses.production_access');
    expect(c).toMatchObject({ status: 'warn', detail: 'the account is in the SES sandbox: mail goes only to verified addresses, at most 200 per 24 hours and 1 per second' });
    expect(c.fix).toContain('--production-access-enabled');
  });

  it('the 24-hour quota: over 80% used warns, used up is an error', async () => {
    ses.state.account.SendQuota = { Max24HourSend: 1000, MaxSendRate: 14, SentLast24Hours: 850 };
    expect(check(await doctor({ MARKETER_RATE: '5' }), 'ses.quota')).toMatchObject({
      status: 'warn', detail: 'over 80% of the 24-hour quota is used: 850 of 1,000 sent in the last 24 hours (85%); max 14/s; marketer sends at the configured rate 5/s',
    });
    ses.state.account.SendQuota = { Max24HourSend: 1000, MaxSendRate: 14, SentLast24Hours: 1000 };
    expect(check(await doctor(), 'ses.quota').status).toBe('error');
    ses.state.account.SendQuota = { Max24HourSend: -1, MaxSendRate: 100, SentLast24Hours: 5 };
    expect(check(await doctor(), 'ses.quota')).toMatchObject({ status: 'ok', detail: 'unlimited 24-hour quota; max 100/s; marketer sends at 80% of it, 80.0/s' });
  });
});

describe('marketer doctor: the From domain in SES', () => {
  it('no identity is an error with the command that creates one', async () => {
    delete ses.state.identities['example.com'];
    const r = await doctor();
    const c = check(r, 'identity.verified', { domain: 'example.com' });
    expect(c).toMatchObject({ status: 'error', detail: 'SES has no identity for example.com or a parent domain: SES refuses mail from it' });
    expect(c.fix).toContain('aws sesv2 create-email-identity --email-identity example.com');
    expect(check(r, 'identity.dkim').status).toBe('error');
    expect(check(r, 'dns.dmarc_alignment').status).toBe('error');
    expect(r.ok).toBe(false);
  });

  it('a pending domain is an error; only the address verified warns; a verified parent domain covers a subdomain', async () => {
    Object.assign(identity(), { VerifiedForSendingStatus: false, VerificationStatus: 'PENDING' });
    expect(check(await doctor(), 'identity.verified')).toMatchObject({ status: 'error', detail: 'the SES identity example.com is pending: SES refuses mail from it' });

    ses.state.identities['jane@example.com'] = { IdentityType: 'EMAIL_ADDRESS', VerifiedForSendingStatus: true, VerificationStatus: 'SUCCESS' };
    expect(check(await doctor(), 'identity.verified')).toMatchObject({ status: 'warn', detail: 'only the address jane@example.com is verified, not example.com: mail is not DKIM-signed for the domain' });

    ses.state.identities = { 'example.com': verifiedDomain('example.com') };
    const r = await doctor({ MARKETER_FROM: 'news@news.example.com' });
    expect(check(r, 'identity.verified', { domain: 'news.example.com' })).toMatchObject({ status: 'ok', detail: 'news.example.com is verified for sending through the parent domain example.com' });
    // The parent's DMARC record applies, and relaxed alignment holds for the parent's DKIM.
    expect(check(r, 'dns.dmarc', { domain: 'news.example.com' })).toMatchObject({ status: 'ok', detail: 'policy quarantine (from the parent domain\'s _dmarc.example.com)' });
    expect(check(r, 'dns.dmarc_alignment', { domain: 'news.example.com' }).status).toBe('ok');
  });

  it('a role without ses:GetEmailIdentity is an error naming the permission', async () => {
    ses.state.deny.add('GetEmailIdentity');
    const r = await doctor();
    const c = check(r, 'identity.verified');
    expect(c.status).toBe('error');
    expect(c.detail).toContain('AccessDeniedException (HTTP 403)');
    expect(c.fix).toContain('ses:GetEmailIdentity');
  });

  it('identity.dkim: pending warns, failed or signing off is an error', async () => {
    (identity().DkimAttributes as Record<string, unknown>).Status = 'PENDING';
    expect(check(await doctor(), 'identity.dkim').status).toBe('warn');
    (identity().DkimAttributes as Record<string, unknown>).Status = 'FAILED';
    const failed = check(await doctor(), 'identity.dkim');
    expect(failed).toMatchObject({ status: 'error', detail: 'DKIM for example.com is FAILED: mail is not signed' });
    (identity().DkimAttributes as Record<string, unknown>).Status = 'SUCCESS';
    (identity().DkimAttributes as Record<string, unknown>).SigningEnabled = false;
    const off = check(await doctor(), 'identity.dkim');
    expect(off.status).toBe('error');
    expect(off.fix).toBe('aws sesv2 put-email-identity-dkim-attributes --email-identity example.com --signing-enabled');
  });

  it('identity.mail_from: none warns; failed names the missing MX record; pending warns', async () => {
    delete identity().MailFromAttributes;
    let r = await doctor();
    expect(check(r, 'identity.mail_from').status).toBe('warn');
    expect(check(r, 'identity.mail_from').fix).toContain('--mail-from-domain bounce.example.com');
    expect(check(r, 'dns.spf')).toMatchObject({ status: 'ok' });
    // DKIM alone still aligns.
    expect(check(r, 'dns.dmarc_alignment')).toMatchObject({ status: 'ok', detail: 'DKIM signs as example.com, aligned; SPF only for amazonses.com, not aligned' });

    identity().MailFromAttributes = { MailFromDomain: 'bounce.example.com', MailFromDomainStatus: 'FAILED', BehaviorOnMxFailure: 'USE_DEFAULT_VALUE' };
    delete dns.zone['bounce.example.com']!.MX;
    r = await doctor();
    expect(check(r, 'identity.mail_from')).toMatchObject({
      status: 'error', fix: 'publish MX bounce.example.com → 10 feedback-smtp.us-east-1.amazonses.com',
      detail: 'MAIL FROM bounce.example.com is FAILED (its MX record is missing): SES uses amazonses.com instead (or rejects, with REJECT_MESSAGE on MX failure)',
    });

    identity().MailFromAttributes = { MailFromDomain: 'bounce.example.com', MailFromDomainStatus: 'PENDING' };
    expect(check(await doctor(), 'identity.mail_from').status).toBe('warn');
  });
});

describe('marketer doctor: DNS', () => {
  it('dns.dkim: a missing or wrong CNAME is an error naming the record; a resolver failure warns', async () => {
    delete dns.zone[`${DKIM_TOKENS[1]}._domainkey.example.com`];
    dns.zone[`${DKIM_TOKENS[2]}._domainkey.example.com`] = { CNAME: 'elsewhere.example.net' };
    const c = check(await doctor(), 'dns.dkim');
    expect(c.status).toBe('error');
    expect(c.detail).toBe(`${DKIM_TOKENS[1]}._domainkey.example.com has no CNAME; ${DKIM_TOKENS[2]}._domainkey.example.com points at elsewhere.example.net`);
    expect(c.fix).toBe(`publish CNAME ${DKIM_TOKENS[1]}._domainkey.example.com → ${DKIM_TOKENS[1]}.dkim.amazonses.com; CNAME ${DKIM_TOKENS[2]}._domainkey.example.com → ${DKIM_TOKENS[2]}.dkim.amazonses.com`);

    dns.zone = healthyWorld().zone;
    dns.servfail.add(`${DKIM_TOKENS[0]}._domainkey.example.com`);
    const s = check(await doctor(), 'dns.dkim');
    expect(s.status).toBe('warn');
    expect(s.detail).toContain('lookup failed (ESERVFAIL)');
  });

  it('dns.spf: missing, without amazonses.com, or twice is an error', async () => {
    dns.zone['bounce.example.com']!.TXT = [];
    let c = check(await doctor(), 'dns.spf');
    expect(c).toMatchObject({ status: 'error', detail: 'no SPF record on the MAIL FROM domain bounce.example.com', fix: 'publish TXT bounce.example.com "v=spf1 include:amazonses.com ~all"' });

    dns.zone['bounce.example.com']!.TXT = ['v=spf1 include:_spf.google.com -all', 'google-site-verification=abc'];
    const r = await doctor();
    c = check(r, 'dns.spf');
    expect(c.status).toBe('error');
    expect(c.detail).toBe('the SPF record on bounce.example.com ("v=spf1 include:_spf.google.com -all") does not include amazonses.com');
    // SPF does not pass, but DKIM still aligns.
    expect(check(r, 'dns.dmarc_alignment').detail).toBe('DKIM signs as example.com, aligned; SPF for MAIL FROM bounce.example.com does not pass (see dns.spf, identity.mail_from)');

    dns.zone['bounce.example.com']!.TXT = ['v=spf1 include:amazonses.com ~all', 'v=spf1 mx -all'];
    expect(check(await doctor(), 'dns.spf').detail).toBe('2 SPF records on bounce.example.com; receivers treat that as a permanent error');
  });

  it('dns.dmarc: missing, doubled or without a policy is an error; p=none passes with advice', async () => {
    delete dns.zone['_dmarc.example.com'];
    let c = check(await doctor(), 'dns.dmarc');
    expect(c).toMatchObject({ status: 'error', detail: 'no DMARC record at _dmarc.example.com: Gmail and Yahoo require one from bulk senders' });
    expect(c.fix).toContain('publish TXT _dmarc.example.com "v=DMARC1; p=none;');

    dns.zone['_dmarc.example.com'] = { TXT: ['v=DMARC1; p=none', 'v=DMARC1; p=reject'] };
    expect(check(await doctor(), 'dns.dmarc').status).toBe('error');
    dns.zone['_dmarc.example.com'] = { TXT: ['v=DMARC1; rua=mailto:d@example.com'] };
    expect(check(await doctor(), 'dns.dmarc')).toMatchObject({ status: 'error', detail: 'the DMARC record at _dmarc.example.com has no policy (p=)' });
    dns.zone['_dmarc.example.com'] = { TXT: ['v=DMARC1; p=none; rua=mailto:d@example.com'] };
    c = check(await doctor(), 'dns.dmarc');
    expect(c.status).toBe('ok');
    expect(c.detail).toBe('policy none: monitoring only; move to p=quarantine once the reports show your mail passing');
  });

  it('dns.dmarc_alignment: strict alignment fails for a subdomain signed by its parent; nothing aligned is an error', async () => {
    ses.state.identities = { 'example.com': verifiedDomain('example.com') };
    dns.zone['_dmarc.example.com'] = { TXT: ['v=DMARC1; p=reject; adkim=s; aspf=s'] };
    const r = await doctor({ MARKETER_FROM: 'news@news.example.com' });
    const c = check(r, 'dns.dmarc_alignment', { domain: 'news.example.com' });
    expect(c).toMatchObject({ status: 'error', detail: 'DMARC fails for news.example.com: DKIM signs as example.com, not aligned (adkim=s); SPF for MAIL FROM bounce.example.com, not aligned (aspf=s)' });

    ses.state.identities = { 'example.com': verifiedDomain('example.com') };
    (identity().DkimAttributes as Record<string, unknown>).Status = 'FAILED';
    dns.zone = healthyWorld().zone;
    // DKIM broken: the custom MAIL FROM carries DMARC alone.
    expect(check(await doctor(), 'dns.dmarc_alignment')).toMatchObject({ status: 'ok', detail: 'no working DKIM signature; SPF for MAIL FROM bounce.example.com, aligned' });
  });

  it('dns_servers must be IP addresses', () => {
    expect(() => loadConfig({ cwd: dir, env: { MARKETER_DNS_SERVERS: '127.0.0.1:5353, dns.example.com' } })).toThrow(/Invalid configuration/);
    expect(loadConfig({ cwd: dir, env: { MARKETER_DNS_SERVERS: '127.0.0.1:5353, [::1]:53, 1.1.1.1' } }).dnsServers).toEqual(['127.0.0.1:5353', '[::1]:53', '1.1.1.1']);
  });
});

describe('marketer doctor: configuration sets and the event queue', () => {
  it('configuration_set: none configured warns, missing or disabled is an error', async () => {
    let r = await doctor({ MARKETER_CONFIGURATION_SET: undefined });
    expect(check(r, 'configuration_set').status).toBe('warn');
    expect(r.checks.some((c) => c.id === 'configuration_set.events')).toBe(false);

    r = await doctor({ MARKETER_CONFIGURATION_SET: 'markting' });
    expect(check(r, 'configuration_set')).toMatchObject({ status: 'error', configuration_set: 'markting', detail: 'the marketing configuration set markting does not exist: every send through it fails' });

    ses.state.configurationSets.marketing!.set = { SendingOptions: { SendingEnabled: false } };
    expect(check(await doctor(), 'configuration_set').status).toBe('error');
  });

  it('transactional campaigns without a set of their own warn', async () => {
    const r = await doctor({}, [{ id: 9, from: 'receipts@example.com', transactional: true }]);
    const sets = r.checks.filter((c) => c.id === 'configuration_set');
    expect(sets.map((c) => [c.configuration_set, c.status])).toEqual([['marketing', 'ok'], ['marketing', 'warn']]);
    const shared = sets.filter((c) => c.status === 'warn');
    expect(shared[0]).toMatchObject({ detail: 'transactional campaign 9 shares the marketing configuration set marketing with marketing mail' });
    expect(shared[0]!.fix).toContain('transactional_configuration_set');
  });

  it('configuration_set.events: no bounces or no destination is an error; no opens and clicks warns', async () => {
    const dest = () => ses.state.configurationSets.marketing!.destinations[0]!;
    dest().MatchingEventTypes = ['SEND', 'DELIVERY', 'REJECT', 'OPEN', 'CLICK', 'RENDERING_FAILURE', 'SUBSCRIPTION'];
    let c = check(await doctor(), 'configuration_set.events');
    expect(c).toMatchObject({ status: 'error', detail: 'no destination publishes BOUNCE, COMPLAINT' });
    expect(c.fix).toContain('aws sesv2 update-configuration-set-event-destination --configuration-set-name marketing --event-destination-name to-sns');

    dest().MatchingEventTypes = ['SEND', 'DELIVERY', 'BOUNCE', 'COMPLAINT', 'REJECT'];
    c = check(await doctor(), 'configuration_set.events');
    expect(c).toMatchObject({ status: 'warn', detail: 'no destination publishes RENDERING_FAILURE, OPEN, CLICK, SUBSCRIPTION: reports lack them' });

    dest().Enabled = false;
    expect(check(await doctor(), 'configuration_set.events')).toMatchObject({ status: 'error', detail: 'the marketing configuration set marketing has no enabled event destination: no events come back' });
  });

  it('sqs.queue: missing, without a policy, or admitting another topic is an error; an open policy warns', async () => {
    expect(check(await doctor({ MARKETER_SQS_QUEUE_URL: undefined }), 'sqs.queue').status).toBe('warn');

    let c = check(await doctor({ MARKETER_SQS_QUEUE_URL: ses.queueUrl('nope') }), 'sqs.queue');
    expect(c).toMatchObject({ status: 'error', detail: `the queue ${ses.queueUrl('nope')} does not exist` });

    delete ses.state.queues['ses-events']!.Policy;
    c = check(await doctor(), 'sqs.queue');
    expect(c).toMatchObject({ status: 'error', detail: 'the queue has no access policy: SNS cannot deliver events to it' });
    expect(c.fix).toContain(`"aws:SourceArn":"${TOPIC_ARN}"`);

    ses.state.queues['ses-events']!.Policy = queuePolicy('ses-events', 'arn:aws:sns:us-east-1:123456789012:other-topic');
    c = check(await doctor(), 'sqs.queue');
    expect(c).toMatchObject({ status: 'error', detail: `the queue policy does not admit the topic ${TOPIC_ARN} that the configuration set publishes to` });

    ses.state.queues['ses-events']!.Policy = JSON.stringify({ Statement: [{ Effect: 'Allow', Principal: { Service: 'sns.amazonaws.com' }, Action: 'sqs:SendMessage' }] });
    expect(check(await doctor(), 'sqs.queue').status).toBe('warn');

    ses.state.deny.add('GetQueueAttributes');
    c = check(await doctor(), 'sqs.queue');
    expect(c.status).toBe('error');
    expect(c.fix).toContain('sqs:GetQueueAttributes');
  });
});

describe('marketer doctor: unsubscribe', () => {
  it('a missing secret or an http URL is an error; SES list management passes', async () => {
    let c = check(await doctor({ MARKETER_UNSUBSCRIBE_SECRET: undefined }), 'unsubscribe');
    expect(c.status).toBe('error');
    expect(c.detail).toBe('MARKETER_UNSUBSCRIBE_SECRET is not set (unsubscribe tokens cannot be signed)');
    expect(c.fix).toContain('openssl rand -hex 32');

    c = check(await doctor({ MARKETER_UNSUBSCRIBE_URL: 'http://mail.example.com/u' }), 'unsubscribe');
    expect(c).toMatchObject({ status: 'error', detail: 'unsubscribe_url http://mail.example.com/u is not https (mailbox providers honour one-click unsubscribe only over https)' });

    c = check(await doctor({ MARKETER_UNSUBSCRIBE_SECRET: undefined, MARKETER_UNSUBSCRIBE_URL: undefined, MARKETER_LIST_MANAGEMENT_CONTACT_LIST: 'news', MARKETER_LIST_MANAGEMENT_TOPIC: 'weekly' }), 'unsubscribe');
    expect(c).toMatchObject({ status: 'ok', detail: 'SES subscription management (contact list news, topic weekly) adds the link and the one-click headers' });
  });
});

describe('marketer doctor as a command', () => {
  it('--json prints exactly {ok, checks} and exits 0 when healthy; a broken domain exits 1 with ✗ and the fix', async () => {
    // The campaign sends from news@example.com; marketer.yaml adds no other domain.
    const repo = makeCampaignRepo();
    writeFileSync(path.join(repo.dir, 'marketer.yaml'), 'configuration_set: marketing\n');
    const e = env({ MARKETER_FROM: undefined });
    const r = await runCli(['doctor', '--json'], { cwd: repo.dir, env: e });
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as DoctorReport;
    expect(Object.keys(doc)).toEqual(['ok', 'checks']);
    expect(doc.ok).toBe(true);
    for (const c of doc.checks) {
      expect(['ok', 'warn', 'error']).toContain(c.status);
      expect(Object.keys(c).slice(0, 4)).toEqual(['id', 'status', 'detail', 'fix']);
    }
    expect(doc.checks.filter((c) => c.domain === 'example.com')).toHaveLength(7);

    delete dns.zone['_dmarc.example.com'];
    const bad = await runCli(['doctor'], { cwd: repo.dir, env: e });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('From domain example.com\n');
    expect(bad.stdout).toContain('  ✗ dns.dmarc: no DMARC record at _dmarc.example.com: Gmail and Yahoo require one from bulk senders\n      fix publish TXT _dmarc.example.com');
    expect(bad.stdout).toContain('  ✓ identity.verified: example.com is verified for sending\n');
    expect(bad.stdout).toContain('1 error, 0 warnings: fix the ✗ before sending.');

    // At 80 columns each check and its fix wrap under themselves.
    const narrow = await runCli(['doctor'], { cwd: repo.dir, env: { ...e, COLUMNS: '80' } });
    expect(narrow.stdout.split('\n').filter((l) => [...l].length > 80)).toEqual([]);
    expect(narrow.stdout).toContain('  ✗ dns.dmarc: no DMARC record at _dmarc.example.com: Gmail and Yahoo require\n    one from bulk senders\n      fix publish TXT _dmarc.example.com');
  });
});
