import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCampaigns, compileActivity, compileCampaign, compileCampaigns, SAMPLE_RECIPIENT } from '../../src/campaigns/index.js';
import { pruneCompileCache } from '../../src/campaigns/compile-cache.js';
import { runCli } from '../helpers/cli.js';
import { campaignYaml, configFor, MARKETING_ENV, project, TEMPLATE } from './fixtures.js';

const env = { MARKETER_TRANSPORT: 'outbox', ...MARKETING_ENV };

interface ValidateJson {
  ok: boolean;
  campaigns: { id: number; file: string; cached: boolean; links: number }[];
  compile: { mjmlLoads: number; compiled: number; cached: number };
}

/** `count` campaigns, each with its own template, so that nothing is shared between them. */
function campaigns(count: number): string {
  const files: Record<string, string> = {};
  for (let i = 1; i <= count; i++) {
    files[`templates/t${i}.mjml`] = TEMPLATE.replace('Hello {{', `Issue ${i}. Hello {{`);
    files[`campaigns/c${i}.yaml`] = campaignYaml().replace('id: 7', `id: ${i}`).replace('templates/t.mjml', `templates/t${i}.mjml`);
  }
  return project(files);
}

async function validate(dir: string): Promise<ValidateJson> {
  const r = await runCli(['validate', '--json'], { cwd: dir, env });
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as ValidateJson;
}

/** What validate does, in this process: every campaign compiled, and what that took. */
async function compileAll(dir: string) {
  const config = configFor(dir, MARKETING_ENV);
  const report = await checkCampaigns([], config);
  expect(report.problems).toEqual([]);
  const before = compileActivity();
  const compiled = [];
  for (const c of report.campaigns) compiled.push(await compileCampaign(c, config));
  const after = compileActivity();
  return {
    compiled: after.compiled - before.compiled,
    cached: after.cached - before.cached,
    campaigns: compiled.map((c) => ({ id: c.campaign.id, cached: c.cached, links: c.links.length, html: c.render(SAMPLE_RECIPIENT).html })),
  };
}

const cacheDir = (dir: string) => path.join(dir, '.marketer', 'cache');
const entries = (dir: string) => readdirSync(cacheDir(dir)).filter((n) => n.endsWith('.json')).map((n) => path.join(cacheDir(dir), n));

describe('compiled templates are cached in .marketer/cache', () => {
  it('loads MJML once for many campaigns, and a second validate of unchanged campaigns compiles nothing', async () => {
    const dir = campaigns(5);
    const first = await validate(dir);
    expect(first.compile).toEqual({ mjmlLoads: 1, compiled: 5, cached: 0 });
    expect(first.campaigns.map((c) => c.cached)).toEqual([false, false, false, false, false]);

    const second = await validate(dir);
    expect(second.compile).toEqual({ mjmlLoads: 0, compiled: 0, cached: 5 });
    expect(second.campaigns.map((c) => c.cached)).toEqual([true, true, true, true, true]);
    // The same result either way.
    expect(second.campaigns.map((c) => c.links)).toEqual(first.campaigns.map((c) => c.links));
  });

  it('compiles a changed template, or a changed partial, again and only that one', async () => {
    const dir = campaigns(3);
    await compileAll(dir);
    writeFileSync(path.join(dir, 'templates/t2.mjml'), TEMPLATE.replace('</mj-column>', '<mj-button href="https://example.com/new">New</mj-button></mj-column>'));
    const changed = await compileAll(dir);
    expect(changed).toMatchObject({ compiled: 1, cached: 2 });
    expect(changed.campaigns.find((c) => c.id === 2)).toMatchObject({ cached: false, links: 2 });
    expect(changed.campaigns.find((c) => c.id === 2)?.html).toContain('https://example.com/new');

    mkdirSync(path.join(dir, 'templates/partials'));
    writeFileSync(path.join(dir, 'templates/partials/footer.mjml'), '<mj-text>Footer one</mj-text>');
    writeFileSync(path.join(dir, 'templates/t3.mjml'), TEMPLATE.replace('</mj-column>', '<mj-include path="./partials/footer.mjml" /></mj-column>'));
    expect((await compileAll(dir))).toMatchObject({ compiled: 1, cached: 2 });
    writeFileSync(path.join(dir, 'templates/partials/footer.mjml'), '<mj-text>Footer two</mj-text>');
    const partial = await compileAll(dir);
    expect(partial).toMatchObject({ compiled: 1, cached: 2 });
    expect(partial.campaigns.find((c) => c.id === 3)?.cached).toBe(false);
    expect(partial.campaigns.find((c) => c.id === 3)?.html).toContain('Footer two');
  });

  it('compiles side by side in order, a template shared by several campaigns once, and one bad campaign costs only itself', async () => {
    const dir = project({
      'templates/shared.mjml': TEMPLATE,
      'templates/bad.mjml': TEMPLATE.replace('Hello {{ first_name', 'Hello {{ frist_name'),
      'campaigns/a.yaml': campaignYaml().replace('id: 7', 'id: 1').replace('templates/t.mjml', 'templates/shared.mjml'),
      'campaigns/b.yaml': campaignYaml().replace('id: 7', 'id: 2').replace('templates/t.mjml', 'templates/bad.mjml'),
      'campaigns/c.yaml': campaignYaml().replace('id: 7', 'id: 3').replace('templates/t.mjml', 'templates/shared.mjml'),
    });
    const config = configFor(dir, MARKETING_ENV);
    const { campaigns: loaded } = await checkCampaigns([], config);
    const before = compileActivity();
    const outcomes = await compileCampaigns(loaded, config);
    expect(compileActivity().compiled - before.compiled).toBe(2);
    expect(outcomes.map((o) => (o.ok ? o.compiled.campaign.id : 'failed'))).toEqual([1, 'failed', 3]);
    const failed = outcomes[1]!;
    expect(failed.ok ? [] : (failed.error as { details: string[] }).details).toEqual(['templates/bad.mjml:5:27: unknown variable "frist_name" (did you mean "first_name"?)']);
  });

  it('keeps the folder 0700 and each entry 0600, tightening a folder it finds open', async () => {
    const dir = campaigns(2);
    mkdirSync(cacheDir(dir), { recursive: true, mode: 0o755 });
    chmodSync(cacheDir(dir), 0o755);
    await compileAll(dir);
    expect(statSync(cacheDir(dir)).mode & 0o777).toBe(0o700);
    const files = entries(dir);
    expect(files).toHaveLength(2);
    for (const f of files) expect(statSync(f).mode & 0o777).toBe(0o600);
    // No temporary file is left behind.
    expect(readdirSync(cacheDir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('compiles again over a truncated, corrupt or emptied entry, and replaces it', async () => {
    const dir = campaigns(3);
    await compileAll(dir);
    const [a, b, c] = entries(dir);
    const text = readFileSync(a!, 'utf8');
    writeFileSync(a!, text.slice(0, Math.floor(text.length / 2)));
    writeFileSync(b!, text.replace('Issue', 'Issuf'));
    writeFileSync(c!, '');
    expect(await compileAll(dir)).toMatchObject({ compiled: 3, cached: 0 });
    expect(await compileAll(dir)).toMatchObject({ compiled: 0, cached: 3 });
  });

  it('does not trust an entry it did not write: a well-formed one that is group-readable, as a git checkout makes it, or a symlink', async () => {
    const dir = campaigns(3);
    expect(await compileAll(dir)).toMatchObject({ compiled: 3, cached: 0 });
    const [a, b, control] = entries(dir);
    // Forged entries: right key, right digest, different HTML.
    const forge = (file: string) => {
      const [, body] = readFileSync(file, 'utf8').split(/\n([\s\S]*)/);
      const forged = body!.replace(/See pricing/g, 'Wire the money here');
      return `${createHash('sha256').update(forged).digest('hex')}\n${forged}`;
    };
    // One with mode 0644, one a symlink to a private file, and as the control one with the
    // entry's own mode, which is taken for ours (so the forgery itself is sound).
    writeFileSync(a!, forge(a!));
    chmodSync(a!, 0o644);
    const elsewhere = path.join(dir, 'elsewhere.json');
    writeFileSync(elsewhere, forge(b!), { mode: 0o600 });
    rmSync(b!);
    symlinkSync(elsewhere, b!);
    writeFileSync(control!, forge(control!));

    const again = await compileAll(dir);
    expect(again).toMatchObject({ compiled: 2, cached: 1 });
    for (const c of again.campaigns) {
      if (c.cached) expect(c.html).toContain('Wire the money here');
      else {
        expect(c.html).toContain('See pricing');
        expect(c.html).not.toContain('Wire the money here');
      }
    }
    // Both were replaced by entries of our own.
    expect(await compileAll(dir)).toMatchObject({ compiled: 0, cached: 3 });
    for (const f of entries(dir)) expect(statSync(f).isSymbolicLink()).toBe(false);
  });

  it('writes no cache outside the repository when .marketer is a symlink to elsewhere', async () => {
    const dir = campaigns(1);
    const outside = project({});
    symlinkSync(outside, path.join(dir, '.marketer'));
    expect(await compileAll(dir)).toMatchObject({ compiled: 1, cached: 0 });
    expect(readdirSync(outside)).toEqual([]);
    expect(await compileAll(dir)).toMatchObject({ compiled: 1, cached: 0 });
  });

  it('prunes the least recently used entries beyond its bound', async () => {
    const dir = campaigns(4);
    await compileAll(dir);
    const files = entries(dir);
    // Oldest first: the first two were last used long ago.
    files.forEach((f, i) => {
      const t = new Date(Date.now() - (files.length - i) * 3_600_000);
      utimesSync(f, t, t);
    });
    pruneCompileCache(dir, { maxEntries: 2 });
    expect(entries(dir).sort()).toEqual(files.slice(2).sort());
    pruneCompileCache(dir, { maxTotalBytes: statSync(files[3]!).size });
    expect(entries(dir)).toEqual([files[3]]);
  });
});
