import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { unverifiedSenderError } from '../../src/sending/aws-error.js';
import { campaignYaml, makeCampaignRepo } from '../helpers/campaign-repo.js';
import { runCli } from '../helpers/cli.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';
import { healthyWorld, startSesStandIn, type SesStandIn } from '../helpers/ses-stand-in.js';

/**
 * The checks send and plan make before the first message, against the SES stand-in (identities,
 * account) in front of the fault-injecting proxy and aws-ses-v2-local (SendEmail).
 */
const stack = useSendingStack();
let standIn: SesStandIn;

beforeAll(async () => {
  standIn = await startSesStandIn(healthyWorld().state, stack.proxy.endpoint);
  for (const i of [1, 2, 3]) await sql`INSERT INTO subscribers (email, timezone, tags) VALUES (${`r${i}@example.net`}, 'UTC', '{newsletter}')`.execute(stack.t.db);
});
afterAll(async () => {
  await standIn?.stop();
});
beforeEach(() => {
  standIn.state = healthyWorld().state;
  standIn.calls.length = 0;
  stack.proxy.requests.length = 0;
});

const env = (extra: Record<string, string | undefined> = {}) => ({
  ...sesEnv(standIn.endpoint), DATABASE_URL: stack.t.url, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...extra,
});

async function ledger(campaign: number): Promise<{ campaigns: number; deliveries: number }> {
  const r = await sql<{ campaigns: number; deliveries: number }>`
    SELECT (SELECT count(*)::int FROM campaigns WHERE id = ${campaign}) AS campaigns,
           (SELECT count(*)::int FROM deliveries WHERE campaign_id = ${campaign}) AS deliveries`.execute(stack.t.db);
  return r.rows[0]!;
}

describe('pre-flight: the From identity', () => {
  it('send refuses an unverified sender with exit 2 and the fix, enqueuing nothing; plan shows ✗; once verified it sends', async () => {
    standIn.state.identities = {};
    const { dir, campaignFile } = makeCampaignRepo({ id: 31 });

    const plan = await runCli(['plan', campaignFile], { cwd: dir, env: env() });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('  ✗ sender identity: no SES identity covers news@example.com (checked news@example.com, example.com); send would refuse. Fix: verify the domain: aws sesv2 create-email-identity --email-identity example.com');

    const send = await runCli(['send', campaignFile], { cwd: dir, env: env() });
    expect(send.code).toBe(2);
    expect(send.stderr).toContain('error Campaign 31: the From address news@example.com is not verified in SES: no SES identity covers news@example.com (checked news@example.com, example.com). Nothing was sent.');
    expect(send.stderr).toContain('hint verify the domain: aws sesv2 create-email-identity --email-identity example.com, then publish its DKIM CNAME records');
    expect(await ledger(31)).toEqual({ campaigns: 0, deliveries: 0 });
    expect(stack.proxy.requests).toHaveLength(0);

    // A domain whose DKIM records SES has not seen yet is just as unusable.
    standIn.state.identities = { 'example.com': { IdentityType: 'DOMAIN', VerifiedForSendingStatus: false, VerificationStatus: 'PENDING' } };
    const pending = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(pending.code).toBe(2);
    expect(JSON.parse(pending.stdout).error).toMatchObject({ code: 'SENDER_UNVERIFIED', message: expect.stringContaining('the SES identity example.com is pending') });

    standIn.state = healthyWorld().state;
    standIn.calls.length = 0;
    const ok = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ campaign: 31, sent: 3 });
    // Checked once, before the first message: the address (not an identity of its own), then its domain.
    expect(standIn.calls.filter((c) => c.startsWith('GetEmailIdentity'))).toEqual(['GetEmailIdentity news@example.com', 'GetEmailIdentity example.com']);
    expect(stack.proxy.requests).toHaveLength(3);
  }, 180_000);

  it('several campaigns: the one with an unverified sender is refused, the others are sent', async () => {
    const { dir } = makeCampaignRepo({ id: 32 });
    writeFileSync(path.join(dir, 'campaigns', 'other.yaml'), campaignYaml({ id: 33 }).replace('news@example.com', 'news@unverified.example.org'));
    const r = await runCli(['send', 'campaigns', '--json'], { cwd: dir, env: env() });
    expect(r.code).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.campaigns.map((c: { campaign: number; sent: number }) => [c.campaign, c.sent])).toEqual([[32, 3]]);
    expect(doc.refused).toMatchObject([{ campaign: 33, code: 'SENDER_UNVERIFIED', hint: expect.stringContaining('--email-identity unverified.example.org') }]);
    expect(await ledger(33)).toEqual({ campaigns: 0, deliveries: 0 });
  });

  it('against aws-ses-v2-local, which has no GetEmailIdentity, send says the sender was not checked (one clean line) and goes on', async () => {
    const { dir, campaignFile } = makeCampaignRepo({ id: 34 });
    const r = await runCli(['send', campaignFile], { cwd: dir, env: { ...env(), ...sesEnv(stack.proxy.endpoint) } });
    expect(r.code, r.stderr).toBe(0);
    const line = r.stderr.split('\n').find((l) => l.includes('From identity was not checked'));
    expect(line).toBe('warning campaign 34: the From identity was not checked: could not read the SES identity news@example.com (GetEmailIdentity): the endpoint answered HTTP 404 with something that is not an AWS response (Unexpected token \'<\', "<UnknownOp"... is not valid JSON). Fix: check ses_endpoint, aws_region and the credentials; marketer doctor shows the whole setup');
    expect(r.stderr).not.toContain('$response');
    expect(stack.proxy.requests).toHaveLength(3);
  });
});

describe('an unverified sender that could not be checked first', () => {
  it('stops the send at SES\'s first rejection, leaving everyone queued, instead of failing every recipient', async () => {
    standIn.state.identities = {};
    standIn.state.deny.add('GetEmailIdentity');
    standIn.state.checkSenders = true;
    const { dir, campaignFile } = makeCampaignRepo({ id: 39 });
    const r = await runCli(['send', campaignFile], { cwd: dir, env: env() });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('warning campaign 39: the From identity was not checked: could not read the SES identity news@example.com (GetEmailIdentity): AccessDeniedException (HTTP 403)');
    expect(r.stderr).toContain('error Sending stopped: the From address news@example.com is not verified in SES (MessageRejected (HTTP 400): Email address is not verified. The following identities failed the check in region US-EAST-1: news@example.com); marketer doctor shows what is missing. The rest stays queued.');
    const rows = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM deliveries WHERE campaign_id = 39 GROUP BY status`.execute(stack.t.db);
    expect(rows.rows).toEqual([{ status: 'queued', n: 3 }]);
    expect(stack.proxy.requests).toHaveLength(0);
  }, 180_000);

  it('a sandbox rejection that names only the recipient stays that recipient\'s failure', () => {
    const rejected = (ids: string) => Object.assign(new Error(`Email address is not verified. The following identities failed the check in region US-EAST-1: ${ids}`), { name: 'MessageRejected' });
    expect(unverifiedSenderError(rejected('r1@example.net'), 'news@example.com')).toBeUndefined();
    expect(unverifiedSenderError(rejected('Test Sender <news@example.com>, r1@example.net'), 'news@example.com')).toMatch(/^the From address news@example\.com is not verified in SES/);
    expect(unverifiedSenderError(Object.assign(new Error('Message rejected: content'), { name: 'MessageRejected' }), 'news@example.com')).toBeUndefined();
  });
});

describe('pre-flight: the quota', () => {
  it('unreadable without a rate: send and dispatch refuse with exit 2 naming both fixes, plan shows ✗; with a rate it warns and sends', async () => {
    standIn.state.deny.add('GetAccount');
    const { dir, campaignFile } = makeCampaignRepo({ id: 35 });

    const send = await runCli(['send', campaignFile], { cwd: dir, env: env() });
    expect(send.code).toBe(2);
    expect(send.stderr).toMatch(/^error Could not read the SES sending quota \(GetAccount\): AccessDeniedException \(HTTP 403\): User: .* is not authorized to perform: ses:GetAccount\. Without it marketer does not know how fast the account may send, so nothing was sent\.$/m);
    expect(send.stderr).toContain('hint Grant the role ses:GetAccount (docs/aws-setup.md), or set rate in marketer.yaml (MARKETER_RATE, or --rate)');
    expect(await ledger(35)).toEqual({ campaigns: 0, deliveries: 0 });

    const dispatch = await runCli(['dispatch'], { cwd: dir, env: env() });
    expect(dispatch.code).toBe(2);
    expect(dispatch.stderr).toContain('hint Grant the role ses:GetAccount');

    const plan = await runCli(['plan', campaignFile], { cwd: dir, env: env() });
    expect(plan.stdout).toContain('  ✗ sending rate: the SES quota could not be read and no rate is set; send would refuse. Fix: grant ses:GetAccount, or set rate in marketer.yaml');

    const sent = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env({ MARKETER_RATE: '25' }) });
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stderr).toContain('warning could not read the SES sending quota (GetAccount): AccessDeniedException (HTTP 403)');
    expect(sent.stderr).toContain('Sending at the configured 25/s without knowing the account\'s limit');
    expect(JSON.parse(sent.stdout)).toMatchObject({ campaign: 35, sent: 3 });
  }, 180_000);

  it('in the SES sandbox, plan says recipients must be verified too', async () => {
    standIn.state.account.ProductionAccessEnabled = false;
    const { dir, campaignFile } = makeCampaignRepo({ id: 36 });
    const plan = await runCli(['plan', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(plan.code, plan.stderr).toBe(0);
    const checks = JSON.parse(plan.stdout).checks as { name: string; ok: boolean; warning?: boolean; detail: string }[];
    expect(checks.find((c) => c.name === 'SES sandbox')).toMatchObject({ ok: true, warning: true, detail: expect.stringContaining('every recipient must be a verified SES identity too') });
    expect(checks.find((c) => c.name === 'sender identity')).toEqual({ name: 'sender identity', ok: true, detail: 'news@example.com is covered by the verified SES identity example.com' });
    const human = await runCli(['plan', campaignFile], { cwd: dir, env: env() });
    expect(human.stdout).toContain('  ! SES sandbox: the account is in the SES sandbox');
  });
});

describe('transactional and marketing apart', () => {
  it('transactional campaigns go through transactional_configuration_set; plan warns when both kinds share a From domain', async () => {
    const { dir, campaignFile } = makeCampaignRepo({ id: 37 });
    const receipts = path.join(dir, 'campaigns', 'receipts.yaml');
    writeFileSync(receipts, `${campaignYaml({ id: 38 })}transactional: true\n`);
    const e = env({ MARKETER_CONFIGURATION_SET: 'marketing', MARKETER_TRANSACTIONAL_CONFIGURATION_SET: 'receipts' });

    const plan = await runCli(['plan', receipts], { cwd: dir, env: e });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('  ! transactional apart: example.com also sends marketing campaign 37: complaints about marketing mail would hurt the transactional mail\'s reputation. Fix: send transactional mail from another domain or a subdomain');

    expect((await runCli(['send', receipts], { cwd: dir, env: e })).code).toBe(0);
    expect(stack.proxy.requests.map((r) => r.ConfigurationSetName)).toEqual(['receipts', 'receipts', 'receipts']);
    stack.proxy.requests.length = 0;
    expect((await runCli(['send', campaignFile], { cwd: dir, env: e })).code).toBe(0);
    expect(stack.proxy.requests.map((r) => r.ConfigurationSetName)).toEqual(['marketing', 'marketing', 'marketing']);

    // From another domain, no warning.
    writeFileSync(receipts, `${campaignYaml({ id: 38 }).replace('news@example.com', 'orders@receipts.example.org')}transactional: true\n`);
    const apart = await runCli(['plan', receipts], { cwd: dir, env: e });
    expect(apart.stdout).not.toContain('transactional apart');
  }, 180_000);
});
