import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { campaignYaml, makeCampaignRepo } from '../helpers/campaign-repo.js';
import { runCli } from '../helpers/cli.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';
import { healthyAccount, healthyWorld, startSesStandIn, type SesStandIn } from '../helpers/ses-stand-in.js';

/**
 * Account-level stops for real: the SES stand-in (GetAccount, and SendEmail refusals) in front
 * of the proxy and aws-ses-v2-local, two campaigns, and several `marketer dispatch` workers
 * sharing one Postgres.
 */
const stack = useSendingStack();
let standIn: SesStandIn;
const PAUSED = 'Sending is paused for this account.';

beforeAll(async () => {
  standIn = await startSesStandIn(healthyWorld().state, stack.proxy.endpoint);
  await sql`INSERT INTO subscribers (email, timezone, tags) SELECT 'p' || i || '@example.net', 'UTC', '{newsletter}' FROM generate_series(1, 200) i`.execute(stack.t.db);
});
afterAll(async () => {
  await standIn?.stop();
});
beforeEach(async () => {
  standIn.state = healthyWorld().state;
  await sql`TRUNCATE campaigns, deliveries, account_stop`.execute(stack.t.db);
  await stack.ses.clear();
});

const env = () => ({ ...sesEnv(standIn.endpoint), DATABASE_URL: stack.t.url });

/** Campaigns (ids given) in one repository, enqueued for a later wave and then made due now. */
async function dueCampaigns(ids: number[]): Promise<{ dir: string; files: string[] }> {
  const { dir } = makeCampaignRepo({ id: ids[0], at: '2030-01-01 08:00', subject: `News ${ids[0]}` });
  const files = ids.map((id) => path.join(dir, 'campaigns', id === ids[0] ? 'c.yaml' : `c${id}.yaml`));
  for (const id of ids.slice(1)) writeFileSync(path.join(dir, 'campaigns', `c${id}.yaml`), campaignYaml({ id, at: '2030-01-01 08:00', subject: `News ${id}` }));
  const enq = await runCli(['send', 'campaigns', '--json'], { cwd: dir, env: env() });
  expect(enq.code, enq.stderr).toBe(0);
  await sql`UPDATE deliveries SET due_at = now()`.execute(stack.t.db);
  return { dir, files };
}

async function counts(): Promise<Record<string, number>> {
  const { rows } = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM deliveries GROUP BY status`.execute(stack.t.db);
  return Object.fromEntries(rows.map((r) => [r.status, r.n]));
}

async function campaigns(): Promise<{ id: number; status: string; paused_reason: string | null }[]> {
  const { rows } = await sql<{ id: number; status: string; paused_reason: string | null }>`SELECT id, status, paused_reason FROM campaigns ORDER BY id`.execute(stack.t.db);
  return rows;
}

/** Every mail the emulator accepted, once each: (recipient, subject) pairs are unique. */
async function expectNoDuplicates(): Promise<number> {
  const mails = await stack.ses.store();
  const keys = mails.map((m) => `${m.destination.to.join(',')}|${m.subject}`);
  expect(new Set(keys).size).toBe(keys.length);
  return keys.length;
}

describe('the account-level stop', { timeout: 300_000 }, () => {
  it('SendingPausedException mid-send stops both campaigns on both workers; later workers stop too; send resumes once the account is healthy', async () => {
    const { dir, files } = await dueCampaigns([51, 52]);
    expect(await counts()).toEqual({ queued: 400 });
    const workers = ['a', 'b'].map((w) => runCli(['dispatch', '--worker', w, '--json', '--rate', '40', '--concurrency', '2'], { cwd: dir, env: env() }));
    // Some of it goes out; then SES pauses the account.
    for (;;) {
      if (((await counts()).sent ?? 0) >= 40) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    standIn.state.refuseSends = { type: 'SendingPausedException', message: PAUSED };
    const results = await Promise.all(workers);

    const reason = expect.stringMatching(/^the SES account cannot send: SendingPausedException\b.*Sending is paused for this account$/);
    for (const r of results) {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('error Sending stopped:');
      const doc = JSON.parse(r.stdout);
      expect(doc.stopped).toMatchObject({ reason: 'fatal' });
      // Each worker reports both campaigns stopped, whichever it was sending.
      expect(doc.paused).toEqual([{ campaign: 51, breaker: 'account', reason }, { campaign: 52, breaker: 'account', reason }]);
      expect(doc.failed).toBe(0);
    }
    expect(await campaigns()).toEqual([{ id: 51, status: 'paused', paused_reason: reason }, { id: 52, status: 'paused', paused_reason: reason }]);
    const after = await counts();
    expect(after.sending ?? 0).toBe(0);
    expect(after.failed ?? 0).toBe(0);
    expect((after.sent ?? 0) + (after.queued ?? 0)).toBe(400);
    expect(after.queued).toBeGreaterThan(0);
    expect(await expectNoDuplicates()).toBe(after.sent);

    // A worker started later sends nothing and says why.
    const requests = stack.proxy.requests.length;
    const late = await runCli(['dispatch', '--json'], { cwd: dir, env: env() });
    expect(late.code, late.stderr).toBe(1);
    expect(JSON.parse(late.stdout)).toMatchObject({ sent: 0, stopped: { reason: 'fatal', message: reason } });
    expect(stack.proxy.requests.length).toBe(requests);

    // stats shows the pause and the account's stop.
    const stats = await runCli(['stats', '51', '--json'], { cwd: dir, env: env() });
    expect(JSON.parse(stats.stdout)).toMatchObject({ status: 'paused', pausedReason: reason, accountStop: { reason: expect.stringContaining('SendingPausedException') } });
    const human = await runCli(['stats', '51'], { cwd: dir, env: env() });
    expect(human.stdout).toContain('Paused: the SES account cannot send: SendingPausedException');
    expect(human.stdout.replace(/\n\s+/g, ' ')).toMatch(/The SES account has been stopped since \d{4}-\d\d-\d\d \d\d:\d\d UTC: SendingPausedException: Sending is paused for this account\. Every campaign waits/);

    // While GetAccount says the account cannot send, send refuses and sends nothing.
    standIn.state.account = { ...healthyAccount(), SendingEnabled: false };
    const summary = path.join(dir, 'summary.md');
    const refused = await runCli(['send', files[0]!, '--summary', summary], { cwd: dir, env: env() });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('error The SES account cannot send: SES GetAccount reports sending disabled for the account (SendingEnabled false). Nothing was sent; every running campaign stays paused.');
    expect(readFileSync(summary, 'utf8')).toContain('**Refused: campaign 51**');
    expect(stack.proxy.requests.length).toBe(requests);

    // Healthy again: send lifts the stop and resumes this campaign; the other resumes with its own send.
    standIn.state = healthyWorld().state;
    const resumed = await runCli(['send', files[0]!, '--json'], { cwd: dir, env: env() });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toContain('the account-wide stop');
    expect(JSON.parse(resumed.stdout)).toMatchObject({ campaign: 51, sent: 200, queued: 0, status: 'done' });
    expect((await campaigns())[1]).toMatchObject({ id: 52, status: 'paused' });
    const other = await runCli(['send', files[1]!, '--json'], { cwd: dir, env: env() });
    expect(other.code, other.stderr).toBe(0);
    expect(JSON.parse(other.stdout)).toMatchObject({ campaign: 52, sent: 200, queued: 0, status: 'done' });
    expect(await expectNoDuplicates()).toBe(400);
  });

  it('GetAccount: PROBATION warns and sends, SHUTDOWN stops every campaign before the first message', async () => {
    const { dir } = await dueCampaigns([53]);
    standIn.state.account = { ...healthyAccount(), EnforcementStatus: 'PROBATION' };
    const probation = await runCli(['dispatch', '--json'], { cwd: dir, env: env() });
    expect(probation.code, probation.stderr).toBe(0);
    expect(probation.stderr).toContain('warning SES enforcement status is PROBATION');
    expect(JSON.parse(probation.stdout)).toMatchObject({ sent: 200, account_warning: expect.stringContaining('PROBATION') });

    await sql`TRUNCATE campaigns, deliveries`.execute(stack.t.db);
    const two = await dueCampaigns([54, 55]);
    const requests = stack.proxy.requests.length;
    standIn.state.account = { ...healthyAccount(), EnforcementStatus: 'SHUTDOWN' };
    const shutdown = await runCli(['dispatch'], { cwd: two.dir, env: env() });
    expect(shutdown.code).toBe(1);
    expect(shutdown.stderr).toContain('campaign 54 paused (account-wide): the SES account cannot send: SES enforcement status is SHUTDOWN');
    expect(shutdown.stderr).toContain('campaign 55 paused (account-wide)');
    expect(shutdown.stderr).toContain('error Sending stopped: the SES account cannot send: SES enforcement status is SHUTDOWN');
    expect(stack.proxy.requests.length).toBe(requests);
    expect(await counts()).toEqual({ queued: 400 });
  });
});
