import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileCampaign, loadCampaign } from '../../src/campaigns/index.js';
import { runMjml } from '../../src/campaigns/run-mjml.js';
import { MarketerError } from '../../src/errors.js';
import { runCli } from '../helpers/cli.js';
import { campaignYaml, configFor, MARKETING_ENV, project, TEMPLATE } from './fixtures.js';

const CANARY = `canary-${process.pid}-${Date.now()}`;
const canaryFile = path.join(mkdtempSync(path.join(tmpdir(), 'marketer-canary-')), 'pwned');
const CODE = `process.getBuiltinModule('fs').writeFileSync('${canaryFile}', 'pwned'); return process.env.MARKETER_TEST_CANARY`;
const env = { MARKETER_TRANSPORT: 'outbox', ...MARKETING_ENV, MARKETER_TEST_CANARY: CANARY };

function expectNothingEscaped(...outputs: string[]): void {
  for (const o of outputs) expect(o).not.toContain(CANARY);
  expect(existsSync(canaryFile)).toBe(false);
}

describe('templates are data in every command', () => {
  it('validate refuses payloads in the template and the subject with file:line:col, exit 2, running nothing', async () => {
    const dir = project({
      'templates/t.mjml': TEMPLATE.replace('<mj-text>Hello', `<mj-text>{{ range.constructor("${CODE}")() }} Hello`),
      'campaigns/a.yaml': campaignYaml(),
      'campaigns/b.yaml': campaignYaml().replace('id: 7', 'id: 8').replace(/^subject: .*$/m, `subject: "{{ email.__proto__ }} {{ joiner.constructor('${CODE.replace(/'/g, '\\"')}')() }}"`),
    });
    const r = await runCli(['validate'], { cwd: dir, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('campaigns/b.yaml:3:10: subject: template reaches "__proto__"');
    expect(r.stderr).toContain('campaigns/b.yaml:3:10: subject: template reaches "constructor"');
    expect(r.stderr).toMatch(/templates\/t\.mjml:5:\d+: template reaches "constructor"/);
    expectNothingEscaped(r.stdout, r.stderr);
  });

  it('preview renders a payload held in data as text, escaped, and runs nothing', async () => {
    const dir = project({
      'templates/t.mjml': TEMPLATE.replace('Hello {{', '{{ data.note }} Hello {{'),
      'campaigns/a.yaml': campaignYaml(`data:\n  note: |-\n    {{ range.constructor("${CODE}")() }}\n`),
    });
    const out = path.join(dir, 'out.html');
    const r = await runCli(['preview', 'campaigns/a.yaml', '--sample', '--out', out], { cwd: dir, env });
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('{{ range.constructor(&quot;process.getBuiltinModule(');
    expectNothingEscaped(r.stdout, r.stderr, readFileSync(out, 'utf8'));
  });

  it('preview refuses a name computed from campaign data at run time, exit 2', async () => {
    const dir = project({
      'templates/t.mjml': TEMPLATE.replace('Hello {{', '{% set f = range[data.k] %}Hello {{'),
      'campaigns/a.yaml': campaignYaml('data: { k: constructor }\n'),
    });
    const r = await runCli(['preview', 'campaigns/a.yaml', '--sample'], { cwd: dir, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('templates/t.mjml:5:18: template reaches "constructor"');
  });

  it('send and dispatch refuse a payload built from one subscriber\'s attributes: bad input, not a crash', async () => {
    // The sample subscriber does not take the branch, so only the render for this recipient meets it.
    const dir = project({
      'templates/t.mjml': TEMPLATE.replace('Hello {{', '{% if attributes.plan == "evil" %}{{ range[attributes.k] }}{% endif %}Hello {{'),
      'campaigns/a.yaml': campaignYaml(),
    });
    const config = configFor(dir, MARKETING_ENV);
    const compiled = await compileCampaign(await loadCampaign(path.join(dir, 'campaigns/a.yaml'), config), config);
    const recipient = { subscriberId: '9', email: 'e@example.com', first_name: null, last_name: null, timezone: 'UTC' };
    expect(compiled.render({ ...recipient, attributes: { plan: 'pro' } }).html).toContain('Hello there!');
    let err: unknown;
    try {
      compiled.render({ ...recipient, attributes: { plan: 'evil', k: 'constructor' } });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(MarketerError);
    expect((err as MarketerError).exitCode).toBe(2);
    expect((err as MarketerError).message).toBe('The template of campaign 7 (campaigns/a.yaml) was refused: template reaches "constructor".');
  });

  it('never loads MJML component packages named by a .mjmlconfig in the repository', async () => {
    const marker = path.join(mkdtempSync(path.join(tmpdir(), 'marketer-mjmlconfig-')), 'loaded');
    const files = {
      '.mjmlconfig': JSON.stringify({ packages: ['./evil.cjs'] }),
      'evil.cjs': `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'); module.exports = class {};`,
      'templates/t.mjml': TEMPLATE,
      'campaigns/a.yaml': campaignYaml(),
    };
    const dir = project(files);
    // Control: MJML itself does load it when pointed at the folder.
    await runMjml(TEMPLATE, { validationLevel: 'soft', mjmlConfigPath: dir }).catch(() => undefined);
    expect(existsSync(marker)).toBe(true);
    const { rmSync } = await import('node:fs');
    rmSync(marker);
    const r = await runCli(['validate'], { cwd: dir, env });
    expect(r.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
  });
});
