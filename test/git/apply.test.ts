import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { sesEnv, startSesEmulator, type SesEmulator } from '../helpers/ses.js';
import { campaign, GitRepo, TEMPLATE } from './git-repo.js';

/**
 * `marketer apply` against a real git history, Postgres and SES endpoint: the branch is the
 * desired state, and a lost workflow run costs nothing but time.
 */

let t: TestDb;
let ses: SesEmulator;

beforeAll(async () => {
  t = await createTestDb();
  ses = await startSesEmulator();
  await sql`INSERT INTO subscribers (email, first_name, timezone, tags)
            SELECT 'user' || i || '@example.com', 'User' || i, 'UTC', '{newsletter}' FROM generate_series(1, 12) i`.execute(t.db);
});
afterAll(async () => {
  await ses?.stop();
  await t?.close();
});

function apply(repo: GitRepo, args: string[] = []): Promise<CliResult> {
  // A loaded machine can take minutes over a run that takes seconds alone; the default 60 s
  // kill would turn slowness into a failure.
  return runCli(['apply', '--no-summary', ...args], { cwd: repo.dir, env: { DATABASE_URL: t.url, ...sesEnv(ses.endpoint) }, timeoutMs: 300_000 });
}

async function applyJson(repo: GitRepo, args: string[] = []) {
  const r = await apply(repo, [...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return { ...r, doc: JSON.parse(r.stdout) };
}

async function sentBySubject(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const e of await ses.store()) counts[e.subject] = (counts[e.subject] ?? 0) + 1;
  return counts;
}

async function recorded(branch = 'main'): Promise<string | undefined> {
  const row = await t.db.selectFrom('applied_commits').select('commit_sha').where('branch', '=', branch).executeTakeFirst();
  return row?.commit_sha;
}

/** A campaigns repository on branch main, with a base commit that has one old campaign. */
function newRepo(): { repo: GitRepo; base: string } {
  const repo = new GitRepo().write({
    'marketer.yaml': 'concurrency: 4\nrate: 200\n',
    'templates/simple.mjml': TEMPLATE,
    'campaigns/old.yaml': campaign(100, { subject: 'Old news' }),
    '.gitignore': '.marketer/\noutbox/\n',
  });
  return { repo, base: repo.commit('base') };
}

beforeEach(async () => {
  await ses.clear();
  await sql`TRUNCATE applied_commits, campaigns, deliveries`.execute(t.db);
});

describe('marketer apply', () => {
  it('a merge whose run never happened is sent by the next scheduled run; re-runs and concurrent runs send nothing more', async () => {
    const { repo, base } = newRepo();
    const first = await applyJson(repo, ['--since', base]);
    expect(first.doc.applied).toEqual([]);
    expect(first.doc.applied_commit).toEqual({ before: null, after: base });

    // Merge 1: its push run is cancelled (a pending run replaced by the next one) and never runs.
    const merge1 = repo.write({ 'campaigns/launch.yaml': campaign(1, { subject: 'Launch' }) }).commit('Merge launch');
    // Merge 2: its push run is lost too.
    const merge2 = repo.write({ 'campaigns/followup.yaml': campaign(2, { subject: 'Follow-up' }) }).commit('Merge follow-up');

    // The scheduled run (no --since) sends both, from the commit the ledger last applied.
    const scheduled = await applyJson(repo);
    expect(scheduled.doc.range).toEqual({ base, head: merge2, from: 'applied', since_ignored: false });
    expect(scheduled.doc.applied.map((a: { campaign: number; enqueued: number }) => [a.campaign, a.enqueued])).toEqual([[2, 12], [1, 12]]);
    expect(scheduled.doc.unchanged).toEqual([{ file: 'campaigns/old.yaml', campaign: 100 }]);
    expect(scheduled.doc.missed).toEqual([]);
    expect(scheduled.doc.applied_commit).toEqual({ before: base, after: merge2 });
    expect(scheduled.doc.dispatch).toMatchObject({ sent: 24, failed: 0 });
    expect(await sentBySubject()).toEqual({ Launch: 12, 'Follow-up': 12 });

    // A re-run, and merge 1's push run starting late (HEAD behind the applied commit, --since
    // its before), change nothing.
    const rerun = await applyJson(repo);
    expect(rerun.doc.range).toMatchObject({ base: merge2, head: merge2, from: 'applied' });
    expect(rerun.doc.applied).toEqual([]);
    expect(rerun.doc.dispatch.sent).toBe(0);
    repo.git('checkout', '-q', merge1);
    const late = await applyJson(repo, ['--since', base, '--branch', 'main']);
    expect(late.doc.range.from).toBe('behind');
    expect(late.doc.applied).toEqual([]);
    expect(late.doc.applied_commit.after).toBe(merge2);
    repo.git('checkout', '-q', 'main');

    // Merge 3, then two runs at once: one mail per subscriber all the same.
    const merge3 = repo.write({ 'campaigns/third.yaml': campaign(3, { subject: 'Third' }) }).commit('Merge third');
    const [a, b] = await Promise.all([apply(repo, ['--json']), apply(repo, ['--json'])]);
    expect(a.code, a.stderr).toBe(0);
    expect(b.code, b.stderr).toBe(0);
    expect(await sentBySubject()).toEqual({ Launch: 12, 'Follow-up': 12, Third: 12 });
    expect(await recorded()).toBe(merge3);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM deliveries WHERE campaign_id = 3`.execute(t.db);
    expect(rows[0]!.n).toBe(12);
  }, 1_200_000);

  it('--since is ignored, with a notice, when the applied commit is an ancestor of HEAD: a lost run does not narrow the next one', async () => {
    const { repo, base } = newRepo();
    await applyJson(repo, ['--since', base]);
    repo.write({ 'campaigns/launch.yaml': campaign(1, { subject: 'Launch' }) }).commit('Merge launch');
    const before2 = repo.head();
    repo.write({ 'campaigns/followup.yaml': campaign(2, { subject: 'Follow-up' }) }).commit('Merge follow-up');
    // Merge 2's push run passes its own `before`; merge 1's campaign goes out all the same.
    const r = await applyJson(repo, ['--since', before2]);
    expect(r.stderr).toContain(`--since ${before2} is ignored: ${base.slice(0, 12)}, the commit last applied on main, is an ancestor of HEAD`);
    expect(r.doc.range).toMatchObject({ base, from: 'applied', since_ignored: true });
    expect(await sentBySubject()).toEqual({ Launch: 12, 'Follow-up': 12 });
  }, 900_000);

  it('the first run without --since refuses, saying how to start', async () => {
    const { repo } = newRepo();
    repo.write({ 'campaigns/launch.yaml': campaign(1) }).commit('launch');
    const r = await apply(repo);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Nothing has been applied on branch main yet, so apply does not know which campaigns are new.');
    expect(r.stderr).toContain(`Pass --since <commit> once: campaigns added or changed after it are sent (e.g. --since ${repo.head().slice(0, 12)}`);
    expect(await recorded()).toBeUndefined();
    expect(await sentBySubject()).toEqual({});
  }, 900_000);

  it('after a force push the applied commit is not an ancestor: refuses naming both commits, and --since then decides', async () => {
    const { repo, base } = newRepo();
    await applyJson(repo, ['--since', base]);
    const gone = repo.write({ 'campaigns/launch.yaml': campaign(1, { subject: 'Launch' }) }).commit('launch');
    await applyJson(repo);
    expect(await recorded()).toBe(gone);
    // History rewritten: main now starts again from base with other commits.
    repo.git('reset', '-q', '--hard', base);
    const rewritten = repo.write({ 'campaigns/other.yaml': campaign(5, { subject: 'Other' }) }).commit('other');
    const r = await apply(repo);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`The applied commit ${gone} of branch main is not an ancestor of HEAD ${rewritten}`);
    expect(r.stderr).toContain('Pass --since <commit>');
    const ok = await applyJson(repo, ['--since', base]);
    expect(ok.doc.range).toMatchObject({ base, head: rewritten, from: 'since' });
    expect(ok.doc.applied_commit).toEqual({ before: gone, after: rewritten });
    expect(await sentBySubject()).toEqual({ Launch: 12, Other: 12 });
  }, 900_000);

  it('a late: skip campaign whose schedule passed more than late_grace before it was first applied is missed, not sent', async () => {
    const { repo, base } = newRepo();
    await applyJson(repo, ['--since', base]);
    const past = 'schedule: { at: "2020-01-01 08:00", timezone: subscriber, late: skip, late_grace: 6h }\n';
    repo.write({
      'campaigns/missed.yaml': `${campaign(7, { subject: 'Too late' })}${past}`,
      'campaigns/late-send.yaml': `${campaign(8, { subject: 'Late but wanted' })}${past.replace('skip', 'send')}`,
    }).commit('two past campaigns');
    const r = await applyJson(repo);
    expect(r.doc.missed).toEqual([{ campaign: 7, name: 'Campaign 7', file: 'campaigns/missed.yaml', last_wave: '2020-01-01T08:00:00.000Z', late_grace_seconds: 21600 }]);
    expect(r.doc.applied.map((a: { campaign: number }) => a.campaign)).toEqual([8]);
    expect(r.stderr).toContain('campaign 7 (campaigns/missed.yaml) missed its schedule: its last wave was due 2020-01-01T08:00:00.000Z, more than late_grace (6h) before it was first applied');
    expect(await sentBySubject()).toEqual({ 'Late but wanted': 12 });
    expect(await t.db.selectFrom('campaigns').select('id').where('id', '=', 7).executeTakeFirst()).toBeUndefined();
    // Reported once: the next run starts after it.
    expect((await applyJson(repo)).doc.missed).toEqual([]);
  }, 900_000);

  it('apply --plan says what apply would do and writes nothing', async () => {
    const { repo, base } = newRepo();
    await applyJson(repo, ['--since', base]);
    const head = repo.write({ 'campaigns/launch.yaml': campaign(1, { subject: 'Launch' }) }).commit('launch');
    const p = await applyJson(repo, ['--plan']);
    expect(p.doc).toMatchObject({
      plan: true, branch: 'main',
      range: { base, head, from: 'applied' },
      applied_commit: { before: base, after: base },
      applied: [{ campaign: 1, file: 'campaigns/launch.yaml', change: 'added', enqueued: 12, created: true }],
      dispatch: { due: 0 },
    });
    const human = await apply(repo, ['--plan']);
    expect(human.stdout).toContain('Campaign 1 (campaigns/launch.yaml): would enqueue 12.');
    expect(human.stdout).toContain(`${head.slice(0, 12)} would be recorded as applied on main.`);
    expect(await recorded()).toBe(base);
    expect(await t.db.selectFrom('deliveries').select('id').execute()).toEqual([]);
    expect(await t.db.selectFrom('campaigns').select('id').execute()).toEqual([]);
    expect(await sentBySubject()).toEqual({});
  }, 900_000);

  it('a bad campaign file applies nothing new and leaves the applied commit where it was; fixed, the next run sends it', async () => {
    const { repo, base } = newRepo();
    await applyJson(repo, ['--since', base]);
    repo.write({ 'campaigns/good.yaml': campaign(1, { subject: 'Good' }), 'campaigns/bad.yaml': campaign(2).replace('name:', 'nmae:') }).commit('one bad');
    const r = await apply(repo);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('campaigns/bad.yaml:2:1: unknown key "nmae"');
    expect(r.stdout).toContain(`is not recorded as applied: the next run tries these campaigns again.`);
    expect(await recorded()).toBe(base);
    expect(await sentBySubject()).toEqual({});
    repo.write({ 'campaigns/bad.yaml': campaign(2, { subject: 'Fixed' }) }).commit('fix');
    const fixed = await applyJson(repo);
    expect(fixed.doc.dispatch, fixed.stderr).toMatchObject({ sent: 24, failed: 0 });
    expect(await sentBySubject()).toEqual({ Good: 12, Fixed: 12 });
    expect(await recorded()).toBe(repo.head());
  }, 900_000);
});
