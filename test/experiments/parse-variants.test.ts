import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { compileCampaign, loadCampaign } from '../../src/campaigns/index.js';
import { campaignYaml, configFor, MARKETING_ENV, problemsOf, project, TEMPLATE } from '../campaigns/fixtures.js';

const B_TEMPLATE = TEMPLATE.replace('Hello', 'Three things we shipped for you,');

function abProject(extra: string, files: Record<string, string> = {}): { dir: string; file: string } {
  const dir = project({ 'templates/t.mjml': TEMPLATE, 'templates/weekly-b.mjml': B_TEMPLATE, 'campaigns/c.yaml': campaignYaml(extra), ...files });
  return { dir, file: path.join(dir, 'campaigns/c.yaml') };
}

const ISSUE_EXAMPLE = `variants:
  - { name: a, subject: "This week in the app" }
  - { name: b, subject: "{{ first_name }}, 3 things we shipped", template: templates/weekly-b.mjml }
test: { share: 0.2, metric: clicks, decide_after: 4h }
`;

describe('variants and test in a campaign file', () => {
  it('reads the documented example: variants in order, the first the default, share, metric and decide_after', async () => {
    const { dir, file } = abProject(ISSUE_EXAMPLE);
    const c = await loadCampaign(file, configFor(dir, MARKETING_ENV));
    expect(c.experiment?.test).toEqual({ share: 0.2, metric: 'clicks', decideAfterSeconds: 4 * 3600 });
    expect(c.experiment?.variants.map((v) => [v.name, v.subject, v.relTemplate])).toEqual([
      ['a', 'This week in the app', undefined],
      ['b', '{{ first_name }}, 3 things we shipped', 'templates/weekly-b.mjml'],
    ]);
    const compiled = await compileCampaign(c, configFor(dir, MARKETING_ENV));
    const recipient = { subscriberId: '1', email: 'ann@example.com', first_name: 'Ann', last_name: null, timezone: 'UTC', attributes: {} };
    const a = compiled.variants?.get('a')?.render(recipient);
    const b = compiled.variants?.get('b')?.render(recipient);
    expect(a?.subject).toBe('This week in the app');
    expect(a?.html).toContain('Hello Ann');
    expect(b?.subject).toBe('Ann, 3 things we shipped');
    expect(b?.html).toContain('Three things we shipped for you, Ann');
  });

  it('reports every problem at its line and column', async () => {
    const { dir, file } = abProject(`variants:
  - { name: b, subject: "B" }
  - { name: a, subject: "A" }
  - { name: B, subject: "{{ nope }}" }
  - { name: "c d", colour: red }
test: { share: 1.5, metric: revenue, decide_after: soon }
`);
    const problems = await problemsOf(loadCampaign(file, configFor(dir, MARKETING_ENV)));
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^campaigns\/c\.yaml:8:13: variant "a" must come first \(the first variant is the default/),
      expect.stringMatching(/^campaigns\/c\.yaml:9:13: variant name "B" is used twice \(also at line 7\)/),
      expect.stringMatching(/^campaigns\/c\.yaml:9:25: variants\[2\]\.subject: .*nope/),
      expect.stringMatching(/^campaigns\/c\.yaml:10:20: unknown key "colour" in variants\[3\]/),
      expect.stringMatching(/^campaigns\/c\.yaml:10:13: variant name "c d" may use only letters, digits, _ and -/),
      expect.stringMatching(/^campaigns\/c\.yaml:11:16: test\.share must be a number between 0 and 1 \(exclusive\), got the number 1\.5/),
      expect.stringMatching(/^campaigns\/c\.yaml:11:29: test\.metric must be "clicks" or "opens", got "revenue"/),
      expect.stringMatching(/^campaigns\/c\.yaml:11:52: test\.decide_after must be a duration from 1m to 7d/),
    ]));
    expect(problems).toHaveLength(8);
  });

  it('needs both keys, at least two variants, and a share strictly between 0 and 1', async () => {
    const cases: [string, RegExp][] = [
      ['test: { share: 0.2, decide_after: 4h }\n', /:6:7: "test" needs "variants" to test/],
      ['variants: [{ name: a }, { name: b }]\n', /:6:11: "variants" needs a "test" saying how to choose the winner/],
      ['variants: [{ name: a }]\ntest: { share: 0.2, decide_after: 4h }\n', /:6:11: "variants" must list 2 to 10 variants, got 1/],
      ['variants: [{ name: a }, { name: b }]\ntest: { share: 0, decide_after: 4h }\n', /:7:16: test\.share must be a number between 0 and 1/],
      ['variants: [{ name: a }, { name: b }]\ntest: { share: 0.5 }\n', /:7:7: test has no "decide_after"/],
      ['variants: [{ name: a }, { name: b }]\ntest: { share: 0.5, decide_after: 30s }\n', /test\.decide_after must be a duration from 1m to 7d, got text "30s"/],
      ['variants: [{ subject: x }, { name: b }]\ntest: { share: 0.5, decide_after: 1h }\n', /:6:12: variants\[0\] has no "name"/],
    ];
    for (const [extra, expected] of cases) {
      const { dir, file } = abProject(extra);
      expect(await problemsOf(loadCampaign(file, configFor(dir, MARKETING_ENV)))).toEqual([expect.stringMatching(expected)]);
    }
  });

  it('confines a variant template to the repository and resolves its includes like the campaign template', async () => {
    const { dir, file } = abProject(`variants:
  - { name: a }
  - { name: b, template: ../outside.mjml }
  - { name: c, template: templates/missing.mjml }
test: { share: 0.3, decide_after: 2h }
`);
    writeFileSync(path.join(path.dirname(dir), 'outside.mjml'), TEMPLATE);
    const problems = await problemsOf(loadCampaign(file, configFor(dir, MARKETING_ENV)));
    expect(problems).toEqual([
      expect.stringMatching(/^campaigns\/c\.yaml:8:26: template "\.\.\/outside\.mjml" .*outside/),
      expect.stringMatching(/^campaigns\/c\.yaml:9:26: template "templates\/missing\.mjml" not found/),
    ]);
  });

  it('checks every variant template in the sandbox and reports all of them in one run', async () => {
    const { dir, file } = abProject(`variants:
  - { name: a }
  - { name: b, template: templates/evil.mjml }
  - { name: c, template: templates/no-unsubscribe.mjml }
test: { share: 0.3, decide_after: 2h }
`, {
      'templates/evil.mjml': TEMPLATE.replace('Hello', '{{ range.constructor("return process")() }}'),
      'templates/no-unsubscribe.mjml': TEMPLATE.replace('<mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>', ''),
    });
    const config = configFor(dir, MARKETING_ENV);
    const c = await loadCampaign(file, config);
    const problems = await problemsOf(compileCampaign(c, config));
    expect(problems).toEqual(expect.arrayContaining([
      expect.stringMatching(/^templates\/evil\.mjml:5:\d+: .*reaches "constructor"/),
      expect.stringMatching(/^templates\/no-unsubscribe\.mjml:1:1: this marketing template has no unsubscribe link/),
    ]));
  });

  it('preview shows any variant, the first by default, and names the variants when asked for another', async () => {
    const { dir, file } = abProject(ISSUE_EXAMPLE);
    const env = { MARKETER_TRANSPORT: 'outbox', ...MARKETING_ENV };
    const first = await runCli(['preview', file, '--json'], { cwd: dir, env });
    expect(JSON.parse(first.stdout)).toMatchObject({ subject: 'This week in the app' });
    const b = await runCli(['preview', file, '--variant', 'b', '--json'], { cwd: dir, env });
    expect(JSON.parse(b.stdout).subject).toMatch(/, 3 things we shipped$/);
    const other = await runCli(['preview', file, '--variant', 'c'], { cwd: dir, env });
    expect(other.code).toBe(2);
    expect(other.stderr).toContain("--variant c: this campaign's variants are a, b.");
  });

  it('the content hash covers each variant template, so editing one after sending began is caught', async () => {
    const { dir, file } = abProject(ISSUE_EXAMPLE);
    const config = configFor(dir, MARKETING_ENV);
    const before = (await loadCampaign(file, config)).contentHash;
    expect((await loadCampaign(file, config)).contentHash).toBe(before);
    writeFileSync(path.join(dir, 'templates/weekly-b.mjml'), B_TEMPLATE.replace('Three', 'Four'));
    expect((await loadCampaign(file, config)).contentHash).not.toBe(before);
  });
});
