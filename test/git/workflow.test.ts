import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { BIN, cleanEnv, REPO, type CliResult } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { sesEnv, startSesEmulator, type SesEmulator } from '../helpers/ses.js';
import { campaign, GitRepo, TEMPLATE } from './git-repo.js';

/**
 * The workflow that `marketer init` scaffolds, step by step, without GitHub: each step runs
 * action/run.sh (what action.yml runs) with the variables the runner and action.yml set.
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

interface Step {
  command: string;
  event: 'pull_request' | 'push' | 'schedule' | 'workflow_dispatch';
  /** pull_request: the base sha; push: the commit before the push. */
  base?: string;
  database?: boolean;
  inputs?: Record<string, string>;
  env?: Record<string, string>;
}

interface StepResult extends CliResult {
  summary: string;
  previews: string;
}

function runStep(repo: GitRepo, s: Step): Promise<StepResult> {
  const summary = path.join(mkdtempSync(path.join(tmpdir(), 'marketer-summary-')), 'step-summary.md');
  writeFileSync(summary, '');
  const previews = path.join(path.dirname(summary), 'marketer-preview');
  const env = cleanEnv({
    GITHUB_ACTIONS: 'true',
    CI: 'true',
    GITHUB_STEP_SUMMARY: summary,
    GITHUB_EVENT_NAME: s.event,
    MARKETER_BIN: BIN,
    INPUT_COMMAND: s.command,
    INPUT_DATABASE_URL: s.database === false ? '' : t.url,
    INPUT_AWS_REGION: 'us-east-1',
    INPUT_PREVIEW_DIR: previews,
    EVENT_NAME: s.event,
    EVENT_PR_BASE_SHA: s.event === 'pull_request' ? s.base : '',
    EVENT_BEFORE_SHA: s.event === 'push' ? s.base : '',
    ...Object.fromEntries(Object.entries(s.inputs ?? {}).map(([k, v]) => [`INPUT_${k.toUpperCase().replace(/-/g, '_')}`, v])),
    ...sesEnv(ses.endpoint),
    ...s.env,
  });
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [path.join(REPO, 'action/run.sh')], { cwd: repo.dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    // The runner consumes workflow commands (::add-mask::…) from stdout; so does this.
    child.on('close', (code, signal) => resolve({ code, signal, stdout: stdout.replace(/^::[^\n]*\n/gm, ''), stderr, summary: readFileSync(summary, 'utf8'), previews }));
  });
}

async function sentTo(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const e of await ses.store()) counts[e.subject] = (counts[e.subject] ?? 0) + 1;
  return counts;
}

describe('the scaffolded GitHub workflow, run step by step', () => {
  const repo = new GitRepo().write({
    'marketer.yaml': 'concurrency: 4\nrate: 200\n',
    'templates/simple.mjml': TEMPLATE,
    'campaigns/old.yaml': campaign(7, { subject: 'Old news' }),
    '.gitignore': '.marketer/\noutbox/\n',
  });
  let base = '';
  let pr = '';

  it('pull request: validate and plan only what the PR adds, with a summary and a rendered preview', async () => {
    base = repo.commit('base');
    pr = repo.write({ 'campaigns/launch.yaml': campaign(8, { subject: 'Launch day' }) }).commit('Add the launch campaign');

    const v = await runStep(repo, { command: 'validate', event: 'pull_request', base, database: false });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toContain('1 campaign changed since');
    expect(v.stdout).toContain('OK campaigns/launch.yaml: campaign 8 "Campaign 8"');
    expect(v.stdout).not.toContain('old.yaml');
    expect(v.summary).toContain('## ✅ marketer validate');
    expect(v.summary).toContain('- `campaigns/launch.yaml`: added');
    expect(v.summary).toContain('| 8 | Campaign 8 | `campaigns/launch.yaml` | `templates/simple.mjml` | 1 |');

    const p = await runStep(repo, { command: 'plan', event: 'pull_request', base });
    expect(p.code, p.stderr).toBe(0);
    expect(p.summary).toContain('## 📬 marketer plan');
    expect(p.summary).toContain('### Campaign 8: Campaign 8');
    expect(p.summary).toContain('**Audience: 12 subscribers**');
    expect(p.summary).toContain('| local time | fires at (UTC) | zones | recipients | |');
    expect(p.summary).toMatch(/\| [\d-]+ [\d:]+ \| [\d-]+ [\d:.]+Z \| UTC \| 12 \| +\|/);
    expect(p.summary).toContain('**Quota** (ses): ✅ 12 of 49,880 left in the 24-hour quota; max 200/s');
    expect(p.summary).toContain('- ✅ List-Unsubscribe headers: RFC 8058 one-click (https, HMAC token)');
    expect(p.summary).toContain('Rendered preview (sample subscriber): `8-launch.html`');
    expect(p.summary).not.toContain('Campaign 7');
    const html = readFileSync(path.join(p.previews, '8-launch.html'), 'utf8');
    expect(html).toContain('https://example.com/news');
    expect(html).toContain('https://mail.example.com/u/');
    expect(readFileSync(path.join(p.previews, '8-launch.txt'), 'utf8')).toMatch(/^Subject: Launch day\nFrom: Test Sender <news@example.com>\n/);
    expect(existsSync(path.join(p.previews, '7-old.html'))).toBe(false);
    expect(await sentTo()).toEqual({});
  }, 180_000);

  it('pull request: a broken campaign fails the step, with file:line in the summary', async () => {
    repo.git('checkout', '-q', '-b', 'broken');
    onTestFinished(() => { repo.git('checkout', '-q', 'main'); });
    const broken = repo.write({ 'campaigns/broken.yaml': campaign(9).replace('name:', 'nmae:') }).commit('broken');
    const v = await runStep(repo, { command: 'validate', event: 'pull_request', base: pr, database: false });
    expect(v.code).toBe(2);
    expect(v.stderr).toContain('campaigns/broken.yaml:2:1: unknown key "nmae" in campaign (known keys: id, name,');
    expect(v.summary).toContain('## ❌ marketer validate');
    expect(v.summary).toContain('campaigns/broken.yaml:2:1: unknown key "nmae"');
    const p = await runStep(repo, { command: 'plan', event: 'pull_request', base: pr });
    expect(p.code).toBe(2);
    expect(p.summary).toContain('## ❌ marketer plan');
    expect(broken).toBe(repo.head());
  }, 180_000);

  it('merge: send sends the changed campaign only; a re-run and a later unrelated merge send nothing', async () => {
    const s = await runStep(repo, { command: 'send', event: 'push', base, inputs: { args: '--json' } });
    expect(s.code, s.stderr).toBe(0);
    const doc = JSON.parse(s.stdout);
    expect(doc.campaigns).toHaveLength(1);
    expect(doc.campaigns[0]).toMatchObject({ campaign: 8, enqueued: 12, sent: 12, queued: 0, status: 'done', this_run: { sent: 12 } });
    expect(doc.refused).toEqual([]);
    expect(doc.changed).toMatchObject({ base, head: pr, campaigns: [{ file: 'campaigns/launch.yaml', change: 'added' }] });
    expect(await sentTo()).toEqual({ 'Launch day': 12 });
    expect(s.summary).toContain('## 🚀 marketer send');
    expect(s.summary).toContain('| 8 | Campaign 8 | `campaigns/launch.yaml` | 12 | 12 | 12 | 0 | 0 | done |');

    const rerun = await runStep(repo, { command: 'send', event: 'push', base });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(rerun.stdout).toContain('Already recorded; 0 new eligible subscribers enqueued, nobody is mailed twice.');
    expect(rerun.summary).toContain('| 8 | Campaign 8 | `campaigns/launch.yaml` | 12 | 0 | 12 | 0 | 0 | done |');
    expect(rerun.summary).toContain('A campaign already sent is not sent again');

    const unrelated = repo.write({ 'README.md': '# Our campaigns\n' }).commit('docs');
    const later = await runStep(repo, { command: 'send', event: 'push', base: pr });
    expect(later.code, later.stderr).toBe(0);
    expect(later.stdout).toContain(`No campaign changed since ${pr.slice(0, 12)}.`);
    expect(later.stdout).toContain('Nothing to send.');
    expect(later.summary).toContain(`No campaign changed since \`${pr.slice(0, 12)}\`.`);
    expect(unrelated).toBe(repo.head());
    expect(await sentTo()).toEqual({ 'Launch day': 12 });
  }, 180_000);

  it('merge: a change to a campaign already sending is refused with an explanation; a new one still goes out', async () => {
    const before = repo.head();
    repo.write({
      'campaigns/launch.yaml': campaign(8, { subject: 'Launch day, take two' }),
      'campaigns/followup.yaml': campaign(10, { subject: 'Follow-up' }),
    }).commit('Edit launch, add follow-up');
    const s = await runStep(repo, { command: 'send', event: 'push', base: before });
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('error Campaign 8 (campaigns/launch.yaml) changed after sending began: 12 deliveries have been attempted with the earlier version.');
    expect(s.stderr).toContain('campaign file: "subject" changed');
    expect(s.summary).toContain('**Refused: campaign 8** (`campaigns/launch.yaml`): Campaign 8 (campaigns/launch.yaml) changed after sending began: 12 deliveries have been attempted with the earlier version.');
    expect(s.summary).toContain('- campaign file: "subject" changed');
    expect(s.summary).toContain('> Give the changed campaign a new id to send it as a new campaign, or pass --allow-changed');
    expect(s.summary).toContain('| 10 | Campaign 10 | `campaigns/followup.yaml` | 12 | 12 | 12 | 0 | 0 | done |');
    expect(await sentTo()).toEqual({ 'Launch day': 12, 'Follow-up': 12 });
  }, 180_000);

  it('a push that created the branch has no base: send refuses instead of sending every campaign', async () => {
    const s = await runStep(repo, { command: 'send', event: 'push', base: '0'.repeat(40) });
    expect(s.code).toBe(2);
    expect(s.stderr).toContain('there is nothing to compare with (a push that created the branch has no "before")');
  });

  it('without DATABASE_URL on a runner, send, dispatch and events pull refuse; validate and plan use the embedded default', async () => {
    for (const command of ['apply', 'send', 'dispatch', 'events-pull']) {
      const r = await runStep(repo, { command, event: command === 'send' ? 'push' : 'schedule', base, database: false, inputs: { 'queue-url': 'https://sqs.us-east-1.amazonaws.com/1/q' } });
      expect(r.code, command).toBe(2);
      expect(r.stderr).toContain(`Refusing to run "marketer ${command.replace('-', ' ')}" on a CI runner with the embedded database`);
      expect(r.stderr).toContain('--allow-ephemeral-db');
    }
    // Its own port and folder: parallel test runs must not share the default 54329.
    const dataDir = mkdtempSync(path.join(tmpdir(), 'marketer-embedded-'));
    chmodSync(dataDir, 0o755); // the embedded server drops root and must be able to enter it
    const env = { MARKETER_EMBEDDED_PORT: String(await freePort()), MARKETER_DATA_DIR: path.join(dataDir, 'pg') };
    const p = await runStep(repo, { command: 'plan', event: 'pull_request', base, database: false, env });
    expect(p.code, p.stderr).toBe(0);
    expect(p.stderr).toContain('Using the embedded Postgres');
    expect(p.summary).toContain('### Campaign 8: Campaign 8');
    expect(p.summary).toContain('**Audience: 0 subscribers**');
  }, 180_000);

  it('schedule: dispatch sends later waves of what a merge enqueued', async () => {
    const before = repo.head();
    repo.write({ 'campaigns/later.yaml': `${campaign(11, { subject: 'Later' })}schedule: { at: "2099-01-01 08:00", timezone: UTC }\n` }).commit('later');
    const s = await runStep(repo, { command: 'send', event: 'push', base: before });
    expect(s.code, s.stderr).toBe(0);
    expect(s.summary).toContain('| 11 | Campaign 11 | `campaigns/later.yaml` | 12 | 0 | 0 | 12 | 0 | running |');
    expect(s.summary).toContain('Later waves are sent by the scheduled `marketer dispatch`.');
    await sql`UPDATE deliveries SET due_at = now() WHERE campaign_id = 11`.execute(t.db);
    const d = await runStep(repo, { command: 'dispatch', event: 'schedule', inputs: { args: '--json' } });
    expect(d.code, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout)).toMatchObject({ sent: 12, finished: [11] });
    expect((await sentTo()).Later).toBe(12);
  }, 180_000);
});

describe('the scaffolded workflow\'s apply job, when runs are lost', () => {
  const repo = new GitRepo().write({
    'marketer.yaml': 'concurrency: 4\nrate: 200\n',
    'templates/simple.mjml': TEMPLATE,
    '.gitignore': '.marketer/\noutbox/\n',
  });

  it('the first merge\'s run never happens: the scheduled apply sends both merges\' campaigns, once', async () => {
    const start = repo.commit('start');
    // First run, by hand (workflow_dispatch with the since input).
    const first = await runStep(repo, { command: 'apply', event: 'workflow_dispatch', inputs: { since: start } });
    expect(first.code, first.stderr).toBe(0);
    expect(first.summary).toContain('## 🚀 marketer apply');

    repo.write({ 'campaigns/one.yaml': campaign(21, { subject: 'Merge one' }) }).commit('Merge one');
    const before2 = repo.head();
    repo.write({ 'campaigns/two.yaml': campaign(22, { subject: 'Merge two' }) }).commit('Merge two');
    // Merge one's push run was cancelled while pending; merge two's push run never started.
    const scheduled = await runStep(repo, { command: 'apply', event: 'schedule', inputs: { args: '--json' } });
    expect(scheduled.code, scheduled.stderr).toBe(0);
    const doc = JSON.parse(scheduled.stdout);
    expect(doc.range).toMatchObject({ base: start, head: repo.head(), from: 'applied' });
    expect(doc.applied.map((a: { campaign: number }) => a.campaign).sort()).toEqual([21, 22]);
    expect(scheduled.summary).toContain('| 21 | Campaign 21 | `campaigns/one.yaml` | added | 12 |');
    expect(scheduled.summary).toContain(`Applied commit on \`main\`: \`${repo.head().slice(0, 12)}\`.`);
    const counts = await sentTo();
    expect([counts['Merge one'], counts['Merge two']]).toEqual([12, 12]);

    // Merge two's push run turns up after all (--since its before): ignored, nothing sent twice.
    const late = await runStep(repo, { command: 'apply', event: 'push', base: before2 });
    expect(late.code, late.stderr).toBe(0);
    expect(late.stderr).toContain(`--since ${before2} is ignored`);
    const again = await sentTo();
    expect([again['Merge one'], again['Merge two']]).toEqual([12, 12]);
  }, 300_000);
});
