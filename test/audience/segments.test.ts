import { mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCampaign, loadCampaigns } from '../../src/campaigns/index.js';
import { MarketerError } from '../../src/errors.js';
import { campaignYaml, configFor, MARKETING_ENV, project, TEMPLATE } from '../campaigns/fixtures.js';

const PRO_USERS = `description: Paying customers on a team plan
tags: [newsletter]
where:
  - { attribute: plan, in: [pro, team] }
  - { attribute: seats, gte: 5 }
`;

function repo(audience: string, files: Record<string, string> = {}): { dir: string; file: string } {
  const dir = project({ 'templates/t.mjml': TEMPLATE, 'campaigns/c.yaml': campaignYaml(`audience:\n${audience.replace(/^/gm, '  ')}\n`), ...files });
  return { dir, file: path.join(dir, 'campaigns/c.yaml') };
}

async function problemsOf(dir: string, file: string): Promise<string[]> {
  try {
    await loadCampaign(file, configFor(dir, MARKETING_ENV));
  } catch (err) {
    expect(err).toBeInstanceOf(MarketerError);
    expect((err as MarketerError).exitCode).toBe(2);
    return (err as MarketerError).details;
  }
  throw new Error('expected the campaign to be rejected');
}

describe('segments/*.yaml', () => {
  it('a campaign names a segment and may add conditions of its own: all of them hold, the segment\'s first', async () => {
    const { dir, file } = repo('segment: pro-users\nexclude_tags: [churned]\nwhere:\n  - { field: timezone, starts_with: "Europe/" }', { 'segments/pro-users.yaml': PRO_USERS });
    const c = await loadCampaign(file, configFor(dir, MARKETING_ENV));
    expect(c.audience.segment).toBe('pro-users');
    expect(c.audience.steps.map((s) => [s.segment ?? '', s.label])).toEqual([
      ['pro-users', 'tags any of [newsletter]'],
      ['pro-users', 'attribute plan in [pro, team]'],
      ['pro-users', 'attribute seats gte 5'],
      ['', 'exclude_tags [churned]'],
      ['', 'timezone starts_with Europe/'],
    ]);
  });

  it('editing the segment changes the campaign\'s content hash (a sending campaign is frozen)', async () => {
    const { dir, file } = repo('segment: pro-users', { 'segments/pro-users.yaml': PRO_USERS });
    const before = (await loadCampaign(file, configFor(dir, MARKETING_ENV))).contentHash;
    writeFileSync(path.join(dir, 'segments/pro-users.yaml'), PRO_USERS.replace('gte: 5', 'gte: 10'));
    expect((await loadCampaign(file, configFor(dir, MARKETING_ENV))).contentHash).not.toBe(before);
  });

  it('a missing segment is reported at the campaign\'s segment: line', async () => {
    const { dir, file } = repo('segment: pro-usres', { 'segments/pro-users.yaml': PRO_USERS });
    expect(await problemsOf(dir, file)).toEqual([
      'campaigns/c.yaml:7:12: segment "pro-usres": segments/pro-usres.yaml not found (segments live in segments/<name>.yaml next to marketer.yaml)',
    ]);
  });

  it('problems inside a segment file are reported at their line and column in that file, all at once', async () => {
    const { dir, file } = repo('segment: broken', {
      'segments/broken.yaml': 'tags: [newsletter]\nwhere:\n  - { attribute: seats, gte: five }\n  - { field: plan, eq: pro }\nlimit: 10\n',
    });
    expect(await problemsOf(dir, file)).toEqual([
      'segments/broken.yaml:5:1: unknown key "limit" in segment (known keys: description, tags, exclude_tags, where, exclude_campaigns)',
      'segments/broken.yaml:3:30: attribute seats gte: needs a number, got text "five" (write the number without quotes; for dates use after/before)',
      'segments/broken.yaml:4:14: unknown field "plan" (fields: email, first_name, last_name, timezone, source, consent_ip, consent_text, consent_at, created_at, updated_at, soft_bounces; anything else from the CSV is an attribute: { attribute: plan, … })',
    ]);
  });

  it('a segment file that is not YAML is reported with its position', async () => {
    const { dir, file } = repo('segment: bad-yaml', { 'segments/bad-yaml.yaml': 'tags: [newsletter\nwhere: x\n' });
    const problems = await problemsOf(dir, file);
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p).toMatch(/^segments\/bad-yaml\.yaml:\d+:\d+: YAML syntax: /);
  });

  it('segments stay inside the repository: no paths in names, no symlinks out, no huge files', async () => {
    const outside = mkdtempSync(path.join(tmpdir(), 'marketer-outside-'));
    writeFileSync(path.join(outside, 'all.yaml'), 'tags: [newsletter]\n');
    const { dir, file } = repo('segment: ../../outside', {});
    expect(await problemsOf(dir, file)).toEqual([
      'campaigns/c.yaml:7:12: segment "../../outside" is not a segment name (letters, digits, - and _: the name of a file in segments/ without .yaml, e.g. segment: pro-users)',
    ]);
    const linked = repo('segment: everyone', { 'segments/keep.yaml': 'tags: [x]\n' });
    symlinkSync(path.join(outside, 'all.yaml'), path.join(linked.dir, 'segments/everyone.yaml'));
    const [problem] = await problemsOf(linked.dir, linked.file);
    expect(problem).toContain('campaigns/c.yaml:7:12: segment "everyone": segments/everyone.yaml is outside the campaigns repository');
    expect(problem).toContain('segment files must be files inside the folder holding marketer.yaml');
    const big = repo('segment: big', { 'segments/big.yaml': `tags: [newsletter]\n${'# padding\n'.repeat(7000)}` });
    expect(await problemsOf(big.dir, big.file)).toEqual([
      'campaigns/c.yaml:7:12: segment "big": segments/big.yaml is 69 KB; at most 64 KB is read (a campaign file or template this big is a mistake: check what was committed)',
    ]);
  });

  it('validating several campaigns that share a broken segment lists its problems once', async () => {
    const dir = project({
      'templates/t.mjml': TEMPLATE,
      'segments/s.yaml': 'where:\n  - { attribute: seats, gte: five }\n',
      'campaigns/a.yaml': campaignYaml('audience: { segment: s }\n'),
      'campaigns/b.yaml': campaignYaml('audience: { segment: s }\n').replace('id: 7', 'id: 8'),
    });
    const err = await loadCampaigns([], configFor(dir, MARKETING_ENV)).catch((e: unknown) => e as MarketerError);
    expect(err).toBeInstanceOf(MarketerError);
    expect((err as MarketerError).details.filter((d) => d.startsWith('segments/s.yaml:2:'))).toHaveLength(1);
  });
});
