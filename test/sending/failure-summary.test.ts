import { readFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { groupErrors, normaliseError } from '../../src/error-groups.js';
import { FailureTally } from '../../src/sending/failure-tally.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';
import { healthyAccount, healthyWorld, startSesStandIn, type SesStandIn } from '../helpers/ses-stand-in.js';
import { campaign, GitRepo, TEMPLATE } from '../git/git-repo.js';

/**
 * Runs in which SES refuses deliveries for good, for real: the SES stand-in answers SendEmail
 * as SES does in the sandbox (MessageRejected naming each unverified recipient), in front of
 * the proxy and aws-ses-v2-local, which accept what it lets through.
 */
const stack = useSendingStack();
let standIn: SesStandIn;
const REJECTED = 'MessageRejected: Email address is not verified. The following identities failed the check in region US-EAST-1: <address>';
// Every output must be free of the recipients' addresses.
const ADDRESS = /r\d+@example\.net/;

function sandbox() {
  const { state } = healthyWorld();
  state.account = { ...healthyAccount(), ProductionAccessEnabled: false };
  state.checkRecipients = true;
  return state;
}

beforeAll(async () => {
  standIn = await startSesStandIn(sandbox(), stack.proxy.endpoint);
  for (let i = 1; i <= 10; i++) await sql`INSERT INTO subscribers (email, timezone, tags) VALUES (${`r${i}@example.net`}, 'UTC', '{newsletter}')`.execute(stack.t.db);
});
afterAll(async () => {
  await standIn?.stop();
});
beforeEach(() => {
  standIn.state = sandbox();
});

const env = (extra: Record<string, string> = {}) => ({ ...sesEnv(standIn.endpoint), DATABASE_URL: stack.t.url, ...extra });
const noAddresses = (r: CliResult) => expect(`${r.stdout}\n${r.stderr}`).not.toMatch(ADDRESS);
/** Human output with wrapped lines (indented by four) joined again. */
const unwrapped = (text: string) => text.replace(/\n {4,}/g, ' ');

describe('error groups: the rules', () => {
  it('drop addresses and the HTTP status, keep the name and message, and merge what is then the same', () => {
    expect(normaliseError('MessageRejected (HTTP 400): Email address is not verified. The following identities failed the check in region US-EAST-1: Ann.Lee+x@Example.NET'))
      .toBe(REJECTED);
    expect(normaliseError('  render:   unknown filter\n  "shout"  ')).toBe('render: unknown filter "shout"');
    expect(normaliseError('MessageRejected: Address blacklisted: <bob@example.org>, carol@example.org.')).toBe('MessageRejected: Address blacklisted: <<address>>, <address>.');
    expect(normaliseError('x'.repeat(1000))).toHaveLength(300);
    expect(groupErrors([
      { error: 'MessageRejected (HTTP 400): Email address is not verified. The following identities failed the check in region US-EAST-1: a@example.net', count: 1 },
      { error: 'render: boom', count: 3 },
      { error: `${REJECTED}`, count: 4 },
      { error: null, count: 1 },
    ])).toEqual([{ error: REJECTED, count: 5 }, { error: 'render: boom', count: 3 }, { error: 'no error recorded', count: 1 }]);
    const tally = new FailureTally();
    expect(tally.add(7, 'MessageRejected (HTTP 400): Email address is not verified. The following identities failed the check in region US-EAST-1: a@example.net')).toBe(REJECTED);
    tally.add(7, 'MessageRejected (HTTP 400): Email address is not verified. The following identities failed the check in region US-EAST-1: b@example.net');
    tally.add(8, 'render: boom');
    expect(tally.list()).toEqual([{ campaign: 7, error: REJECTED, count: 2 }, { campaign: 8, error: 'render: boom', count: 1 }]);
    expect(tally.groups()).toEqual([{ error: REJECTED, count: 2 }, { error: 'render: boom', count: 1 }]);
  });
});

describe('a run whose deliveries fail', { timeout: 240_000 }, () => {
  it('send: every delivery refused is not "done": grouped errors, exit 1, the step summary and stats say why', async () => {
    const { dir, campaignFile } = makeCampaignRepo({ id: 41 });
    const summary = path.join(dir, 'summary.md');
    const r = await runCli(['send', campaignFile, '--summary', summary], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain(`10 failed: ${REJECTED}`);
    expect(r.stdout).toContain('Nothing was sent: all 10 deliveries of this run failed (see above). Failed deliveries are not retried; marketer stats 41 lists the errors.');
    expect(r.stdout).not.toContain('Campaign done');
    expect(r.stderr).toContain('error 10 deliveries failed in this run (see above); they are not retried.');
    noAddresses(r);
    const md = readFileSync(summary, 'utf8');
    expect(md).toContain('## ❌ marketer send');
    expect(md).toContain('**Failed: campaign 41**, 10 deliveries (not retried):');
    expect(md).toContain(`- 10 × ${REJECTED.replace('<address>', '\\<address\\>')}`);
    expect(md).not.toMatch(ADDRESS);

    // The ledger keeps the same text, without the address.
    const { rows } = await sql<{ error: string; n: number }>`SELECT error, count(*)::int AS n FROM deliveries WHERE campaign_id = 41 GROUP BY error`.execute(stack.t.db);
    expect(rows).toEqual([{ error: REJECTED, n: 10 }]);

    const stats = await runCli(['stats', '41', '--json'], { cwd: dir, env: env() });
    expect(stats.code, stats.stderr).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({ failed: 10, errors: [{ error: REJECTED, count: 10 }] });
    const human = await runCli(['stats', '41'], { cwd: dir, env: { ...env(), COLUMNS: '80' } });
    expect(unwrapped(human.stdout)).toContain(`Failed deliveries (not retried)\n  10 failed: ${REJECTED}`);
    expect(human.stdout.split('\n').every((l) => l.length <= 80)).toBe(true);
    noAddresses(human);
  });

  it('send --json: some sent, some failed: the errors array, and exit 1 all the same', async () => {
    standIn.state.identities['r1@example.net'] = { IdentityType: 'EMAIL_ADDRESS', VerifiedForSendingStatus: true, VerificationStatus: 'SUCCESS' };
    standIn.state.identities['r2@example.net'] = { IdentityType: 'EMAIL_ADDRESS', VerifiedForSendingStatus: true, VerificationStatus: 'SUCCESS' };
    const { dir, campaignFile } = makeCampaignRepo({ id: 42 });
    const r = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ campaign: 42, sent: 2, failed: 8, status: 'done', this_run: { sent: 2, failed: 8 } });
    expect(doc.errors).toEqual([{ error: REJECTED, count: 8 }]);
    expect(r.stderr).toContain('error 8 deliveries failed in this run (see above); they are not retried.');
    noAddresses(r);

    // Nothing is left to fail: a second run sends nothing, fails nothing, and succeeds.
    const again = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ failed: 8, this_run: { sent: 0, failed: 0 }, errors: [] });
    const stats = await runCli(['stats', '42', '--json'], { cwd: dir, env: env() });
    expect(JSON.parse(stats.stdout).errors).toEqual([{ error: REJECTED, count: 8 }]);
  });

  it('dispatch: errors per campaign in the output and --json, exit 1', async () => {
    // Enqueued for a later wave, then made due: dispatch sends them.
    const { dir, campaignFile } = makeCampaignRepo({ id: 43, at: '2030-01-01 08:00' });
    const enq = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: env() });
    expect(enq.code, enq.stderr).toBe(0);
    expect(JSON.parse(enq.stdout)).toMatchObject({ queued: 10, errors: [] });
    const other = makeCampaignRepo({ id: 44, at: '2030-01-01 08:00' });
    expect((await runCli(['send', other.campaignFile, '--json'], { cwd: other.dir, env: env() })).code).toBe(0);
    await sql`UPDATE deliveries SET due_at = now() WHERE campaign_id IN (43, 44)`.execute(stack.t.db);

    const json = await runCli(['dispatch', '--campaign', '43', '--json'], { cwd: dir, env: env() });
    expect(json.code, json.stderr).toBe(1);
    const doc = JSON.parse(json.stdout);
    expect(doc).toMatchObject({ sent: 0, failed: 10, finished: [43] });
    expect(doc.errors).toEqual([{ campaign: 43, error: REJECTED, count: 10 }]);
    noAddresses(json);

    const human = await runCli(['dispatch'], { cwd: other.dir, env: env() });
    expect(human.code, human.stderr).toBe(1);
    expect(human.stdout).toContain(`campaign 44: 10 failed: ${REJECTED}`);
    expect(human.stderr).toContain('error 10 deliveries failed in this run (see above)');
    noAddresses(human);
  });

  it('apply: the dispatch it runs reports its errors and fails the command', async () => {
    const repo = new GitRepo().write({ 'marketer.yaml': 'concurrency: 2\nrate: 100\n', 'templates/simple.mjml': TEMPLATE });
    const base = repo.commit('start');
    repo.write({ 'campaigns/a.yaml': campaign(45) }).commit('a campaign');
    const summary = path.join(repo.dir, 'summary.md');
    const r = await runCli(['apply', '--since', base, '--json', '--summary', summary], { cwd: repo.dir, env: env(), timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(1);
    const doc = JSON.parse(r.stdout);
    expect(doc.dispatch).toMatchObject({ sent: 0, failed: 10, errors: [{ campaign: 45, error: REJECTED, count: 10 }] });
    noAddresses(r);
    const md = readFileSync(summary, 'utf8');
    expect(md).toContain('## ❌ marketer apply');
    expect(md).toContain('**Failed: campaign 45**, 10 deliveries (not retried):');
  }, 300_000);
});
