import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';
import { healthyWorld, startSesStandIn, type SesStandIn } from '../helpers/ses-stand-in.js';
import { campaign, GitRepo, TEMPLATE } from './git-repo.js';

/** apply runs send's pre-flight: a campaign whose From identity SES would refuse is not applied. */
const stack = useSendingStack();
let standIn: SesStandIn;

beforeAll(async () => {
  standIn = await startSesStandIn(healthyWorld().state, stack.proxy.endpoint);
  for (const i of [1, 2, 3]) await sql`INSERT INTO subscribers (email, timezone, tags) VALUES (${`r${i}@example.net`}, 'UTC', '{newsletter}')`.execute(stack.t.db);
});
afterAll(async () => {
  await standIn?.stop();
});

describe('apply and the sender pre-flight', () => {
  it('refuses the campaign with an unverified From, sends the other, and keeps the applied commit for the next try', async () => {
    const repo = new GitRepo().write({ 'marketer.yaml': 'concurrency: 2\nrate: 100\n', 'templates/simple.mjml': TEMPLATE });
    const base = repo.commit('start');
    repo.write({
      'campaigns/good.yaml': campaign(41, { subject: 'Good' }),
      'campaigns/bad.yaml': campaign(42, { subject: 'Bad' }).replace('news@example.com', 'news@unverified.example.org'),
    }).commit('two campaigns');
    const env = { ...sesEnv(standIn.endpoint), DATABASE_URL: stack.t.url };
    const r = await runCli(['apply', '--since', base, '--json', '--no-summary'], { cwd: repo.dir, env, timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(2);
    const doc = JSON.parse(r.stdout);
    expect(doc.applied.map((a: { campaign: number }) => a.campaign)).toEqual([41]);
    expect(doc.refused).toMatchObject([{ campaign: 42, code: 'SENDER_UNVERIFIED' }]);
    expect(doc.applied_commit).toEqual({ before: null, after: null });
    expect(doc.dispatch.sent).toBe(3);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM deliveries WHERE campaign_id = 42`.execute(stack.t.db);
    expect(rows[0]!.n).toBe(0);
  }, 600_000);
});
