import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { changedCampaigns } from '../../src/campaigns/changed-campaigns.js';
import { isMarketerError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { campaign, FOOTER, git, GitRepo, TEMPLATE, WITH_FOOTER } from './git-repo.js';

function baseRepo(): { repo: GitRepo; base: string } {
  const repo = new GitRepo().write({
    'marketer.yaml': 'concurrency: 4\n',
    'templates/simple.mjml': TEMPLATE,
    'templates/footed.mjml': WITH_FOOTER,
    'templates/partials/footer.mjml': FOOTER,
    'campaigns/a.yaml': campaign(1),
    'campaigns/b.yaml': campaign(2, { template: 'templates/footed.mjml' }),
    'campaigns/old.yaml': campaign(3),
    'README.md': '# campaigns\n',
  });
  return { repo, base: repo.commit('base') };
}

const summary = (r: Awaited<ReturnType<typeof changedCampaigns>>) => r.campaigns.map(({ relFile, change, from, via }) => ({ relFile, change, ...(from ? { from } : {}), ...(via ? { via } : {}) }));

describe('changedCampaigns', () => {
  it('finds added and modified campaign files, lists deleted ones, and ignores other files', async () => {
    const { repo, base } = baseRepo();
    repo.write({ 'campaigns/new.yaml': campaign(4), 'campaigns/a.yaml': campaign(1, { subject: 'Changed' }), 'README.md': 'changed\n', 'notes/x.yaml': 'a: 1\n' })
      .remove('campaigns/old.yaml').commit('change');
    const r = await changedCampaigns({ root: repo.dir, base });
    expect(summary(r)).toEqual([
      { relFile: 'campaigns/a.yaml', change: 'modified' },
      { relFile: 'campaigns/new.yaml', change: 'added' },
    ]);
    expect(r.deleted).toEqual(['campaigns/old.yaml']);
    expect(r.base).toBe(base);
    expect(r.head).toBe(repo.head());
    expect(r.campaigns[0]!.file).toBe(path.join(repo.dir, 'campaigns/a.yaml'));
  });

  it('follows a rename, and a move out of campaigns/ counts as removed', async () => {
    const { repo, base } = baseRepo();
    repo.move('campaigns/a.yaml', 'campaigns/2026/launch.yaml').move('campaigns/old.yaml', 'archive/old.yaml').commit('move');
    const r = await changedCampaigns({ root: repo.dir, base });
    expect(summary(r)).toEqual([{ relFile: 'campaigns/2026/launch.yaml', change: 'renamed', from: 'campaigns/a.yaml' }]);
    expect(r.deleted).toEqual(['campaigns/old.yaml']);
  });

  it('counts a campaign as changed when its template or an included partial changed', async () => {
    const { repo, base } = baseRepo();
    repo.write({ 'templates/partials/footer.mjml': FOOTER.replace('Unsubscribe', 'Leave') }).commit('footer');
    const r = await changedCampaigns({ root: repo.dir, base });
    expect(summary(r)).toEqual([{ relFile: 'campaigns/b.yaml', change: 'template', via: ['templates/partials/footer.mjml'] }]);

    repo.write({ 'templates/simple.mjml': TEMPLATE.replace('the news', 'our news') }).commit('template');
    const both = await changedCampaigns({ root: repo.dir, base });
    expect(summary(both).map((c) => [c.relFile, c.change])).toEqual([
      ['campaigns/a.yaml', 'template'], ['campaigns/b.yaml', 'template'], ['campaigns/old.yaml', 'template'],
    ]);
  });

  it('compares with the merge base, so commits that landed on the base branch meanwhile are not the branch\'s', async () => {
    const { repo, base } = baseRepo();
    repo.git('checkout', '-q', '-b', 'feature');
    repo.write({ 'campaigns/new.yaml': campaign(4) }).commit('feature');
    repo.git('checkout', '-q', 'main');
    const mainHead = repo.write({ 'campaigns/a.yaml': campaign(1, { subject: 'On main' }) }).commit('main moved on');
    repo.git('checkout', '-q', 'feature');
    const r = await changedCampaigns({ root: repo.dir, base: mainHead });
    expect(r.base).toBe(base);
    expect(summary(r)).toEqual([{ relFile: 'campaigns/new.yaml', change: 'added' }]);
  });

  it('keeps to the given scope and works from a config root below the top of the repository', async () => {
    const repo = new GitRepo().write({
      'mail/marketer.yaml': '',
      'mail/templates/simple.mjml': TEMPLATE,
      'mail/campaigns/a.yaml': campaign(1),
      'mail/campaigns/drafts/b.yaml': campaign(2),
      'campaigns/elsewhere.yaml': campaign(9),
    });
    const base = repo.commit('base');
    repo.write({ 'mail/campaigns/a.yaml': campaign(1, { subject: 'x' }), 'mail/campaigns/drafts/b.yaml': campaign(2, { subject: 'y' }), 'campaigns/elsewhere.yaml': campaign(9, { subject: 'z' }) }).commit('c');
    const root = path.join(repo.dir, 'mail');
    expect(summary(await changedCampaigns({ root, base })).map((c) => c.relFile)).toEqual(['campaigns/a.yaml', 'campaigns/drafts/b.yaml']);
    expect(summary(await changedCampaigns({ root, base, scope: [path.join(root, 'campaigns/drafts')] })).map((c) => c.relFile)).toEqual(['campaigns/drafts/b.yaml']);
  });

  it('refuses the null commit of a new branch and an unknown commit, with a hint', async () => {
    const { repo } = baseRepo();
    const error = (base: string) => changedCampaigns({ root: repo.dir, base }).then(() => undefined, (e: unknown) => e);
    const zero = await error('0000000000000000000000000000000000000000');
    expect(isMarketerError(zero) && zero.code).toBe('NO_BASE_COMMIT');
    const unknown = await error('1234567890abcdef1234567890abcdef12345678');
    expect(isMarketerError(unknown) && [unknown.code, unknown.exitCode]).toEqual(['UNKNOWN_COMMIT', 2]);
    const option = await error('--output=/tmp/x');
    expect(isMarketerError(option) && option.code).toBe('BAD_OPTION');
    const notGit = await changedCampaigns({ root: mkdtempSync(path.join(tmpdir(), 'marketer-nogit-')), base: 'HEAD' }).catch((e: unknown) => e);
    expect(isMarketerError(notGit) && notGit.code).toBe('NOT_A_GIT_REPOSITORY');
  });

  it('explains a shallow clone (fetch-depth: 0), and works once the history is fetched', async () => {
    const { repo, base } = baseRepo();
    for (let i = 0; i < 3; i++) repo.write({ [`notes/${i}.md`]: `${i}\n` }).commit(`note ${i}`);
    repo.write({ 'campaigns/new.yaml': campaign(4) }).commit('add');
    const clone = path.join(mkdtempSync(path.join(tmpdir(), 'marketer-clone-')), 'c');
    git(path.dirname(clone), 'clone', '-q', '--depth', '1', `file://${repo.dir}`, clone);

    const r = await runCli(['validate', '--changed-since', base], { cwd: clone });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error Cannot find what changed: commit ${base} is not in this clone, because it is a shallow clone.`);
    expect(r.stderr).toContain('set `fetch-depth: 0` on actions/checkout, or run `git fetch --deepen=50`');

    git(clone, 'fetch', '-q', '--deepen=10');
    const ok = await runCli(['validate', '--changed-since', base, '--json'], { cwd: clone });
    expect(ok.code, ok.stderr).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, campaigns: [{ id: 4, file: 'campaigns/new.yaml' }], changed: { base, campaigns: [{ file: 'campaigns/new.yaml', change: 'added' }], deleted: [] } });
  });

  it('reads no template a pull request points outside the repository or at a device, pipe or huge file', async () => {
    const { repo } = baseRepo();
    const outside = mkdtempSync(path.join(tmpdir(), 'marketer-outside-'));
    // A FIFO blocks a reader forever; /dev/zero never ends; a symlink leads outside.
    execFileSync('mkfifo', [path.join(outside, 'pipe')]);
    writeFileSync(path.join(outside, 'secret.mjml'), '<mj-include path="./other.mjml" />');
    repo.write({
      'campaigns/zero.yaml': campaign(5, { template: '/dev/zero' }),
      'campaigns/pipe.yaml': campaign(6, { template: 'templates/pipe.mjml' }),
      'campaigns/out.yaml': campaign(7, { template: 'templates/out.mjml' }),
      'campaigns/big.yaml': campaign(8, { template: 'templates/big.mjml' }),
      'templates/big.mjml': `<mjml><mj-body>${'x'.repeat(2 * 1024 * 1024)}</mj-body></mjml>`,
    });
    symlinkSync(path.join(outside, 'pipe'), path.join(repo.dir, 'templates/pipe.mjml'));
    symlinkSync(path.join(outside, 'secret.mjml'), path.join(repo.dir, 'templates/out.mjml'));
    const base = repo.commit('add');
    // A template change makes every unchanged campaign's template and partials be looked at.
    repo.write({ 'templates/simple.mjml': TEMPLATE.replace('the news', 'our news') }).commit('template');
    const r = await changedCampaigns({ root: repo.dir, base });
    expect(summary(r)).toEqual([
      { relFile: 'campaigns/a.yaml', change: 'template', via: ['templates/simple.mjml'] },
      { relFile: 'campaigns/old.yaml', change: 'template', via: ['templates/simple.mjml'] },
    ]);
  }, 30_000);

  it('counts a campaign as changed when the segment its audience names changed', async () => {
    const { repo } = baseRepo();
    repo.write({
      'segments/pro-users.yaml': 'where:\n  - { attribute: plan, eq: pro }\n',
      'campaigns/pro.yaml': campaign(9).replace(/audience:[^\n]*\n(\s+[^\n]*\n)*/, '') + 'audience:\n  segment: pro-users\n',
    });
    const base = repo.commit('segment');
    repo.write({ 'segments/pro-users.yaml': 'where:\n  - { attribute: plan, in: [pro, team] }\n' }).commit('widen');
    const r = await changedCampaigns({ root: repo.dir, base });
    expect(summary(r)).toEqual([{ relFile: 'campaigns/pro.yaml', change: 'segment', via: ['segments/pro-users.yaml'] }]);
  });

  it("counts a campaign as changed when an A/B variant's template changed", async () => {
    const { repo } = baseRepo();
    repo.write({
      'templates/variant-b.mjml': TEMPLATE.replace('the news', 'news, b'),
      'campaigns/ab.yaml': `${campaign(10)}variants:\n  - { name: a }\n  - { name: b, template: templates/variant-b.mjml }\ntest: { share: 0.2, metric: clicks, decide_after: 4h }\n`,
    });
    const base = repo.commit('ab');
    repo.write({ 'templates/variant-b.mjml': TEMPLATE.replace('the news', 'news, b2') }).commit('variant');
    const r = await changedCampaigns({ root: repo.dir, base });
    expect(summary(r)).toEqual([{ relFile: 'campaigns/ab.yaml', change: 'template', via: ['templates/variant-b.mjml'] }]);
  });
});
