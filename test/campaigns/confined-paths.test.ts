import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkCampaigns, compileCampaign, loadCampaign, SAMPLE_RECIPIENT } from '../../src/campaigns/index.js';
import { MAX_CAMPAIGN_FILE_BYTES, readConfined } from '../../src/campaigns/confined-file.js';
import { campaignYaml, configFor, MARKETING_ENV, project, TEMPLATE } from './fixtures.js';

const withInclude = (include: string) => TEMPLATE.replace('    <mj-section>', `    ${include}\n    <mj-section>`);

async function problemsOf(files: Record<string, string>, setup?: (dir: string) => void): Promise<string[]> {
  const dir = project(files);
  setup?.(dir);
  const report = await checkCampaigns([], configFor(dir, MARKETING_ENV));
  return report.problems.map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`);
}

describe('templates and partials stay inside the campaigns repository', () => {
  it('refuses a template outside the repository, missing, or not a regular file, at the campaign line', async () => {
    const outside = await problemsOf({ 'campaigns/a.yaml': campaignYaml().replace('templates/t.mjml', '../../../../../etc/passwd') });
    expect(outside).toEqual(['campaigns/a.yaml:5:11: template "../../../../../etc/passwd" is outside the campaigns repository']);
    const folder = await problemsOf({ 'templates/t.mjml/x': '', 'campaigns/a.yaml': campaignYaml() });
    expect(folder).toEqual(['campaigns/a.yaml:5:11: template "templates/t.mjml" is not a regular file (a folder)']);
    const missing = await problemsOf({ 'campaigns/a.yaml': campaignYaml() });
    expect(missing).toEqual(['campaigns/a.yaml:5:11: template "templates/t.mjml" not found (looked for templates/t.mjml)']);
  });

  it('follows symlinks before deciding: a link leading out is outside, one staying in is fine', async () => {
    const out = await problemsOf({ 'campaigns/a.yaml': campaignYaml() }, (dir) => {
      mkdirSync(path.join(dir, 'templates'));
      symlinkSync('/etc/passwd', path.join(dir, 'templates/t.mjml'));
    });
    expect(out).toEqual(['campaigns/a.yaml:5:11: template "templates/t.mjml" is outside the campaigns repository (it resolves to /etc/passwd)']);
    const inside = await problemsOf({ 'templates/real.mjml': TEMPLATE, 'campaigns/a.yaml': campaignYaml() }, (dir) => {
      symlinkSync('real.mjml', path.join(dir, 'templates/t.mjml'));
    });
    expect(inside).toEqual([]);
  });

  it('refuses every bad mj-include (plain, html, css) at once, naming the campaign line and where the include is', async () => {
    const template = withInclude([
      '<mj-include path="/etc/passwd" />',
      '    <mj-include path="../../../../../../etc/hostname" type="html" />',
      '    <mj-include path="./partials/missing.mjml" />',
      '    <mj-include path="./partials/footer" />',
      '    <mj-include path="./partials/evil.css" type="css" />',
      '    <mj-include path="./partials" />',
    ].join('\n'));
    const problems = await problemsOf({
      'templates/t.mjml': template,
      'templates/partials/footer.mjml': '<mj-section><mj-column><mj-text>Footer</mj-text></mj-column></mj-section>',
      'campaigns/a.yaml': campaignYaml(),
    }, (dir) => symlinkSync('/etc/hosts', path.join(dir, 'templates/partials/evil.css')));
    expect(problems).toEqual([
      'campaigns/a.yaml:5:11: mj-include "/etc/passwd" (templates/t.mjml:3) is not a relative path',
      'campaigns/a.yaml:5:11: mj-include "../../../../../../etc/hostname" (templates/t.mjml:4) is outside the campaigns repository',
      'campaigns/a.yaml:5:11: mj-include "./partials/missing.mjml" (templates/t.mjml:5) not found',
      'campaigns/a.yaml:5:11: mj-include "./partials/footer" (templates/t.mjml:6) not found',
      'campaigns/a.yaml:5:11: mj-include "./partials/evil.css" (templates/t.mjml:7) is outside the campaigns repository (it resolves to /etc/hosts)',
      'campaigns/a.yaml:5:11: mj-include "./partials" (templates/t.mjml:8) is not a regular file (a folder)',
    ]);
  });

  it('renders good partials of every kind, each included relative to the file including it', async () => {
    const dir = project({
      'templates/t.mjml': withInclude('<mj-include path="./partials/header.mjml" />\n    <mj-include path="./partials/note.html" type="html" />\n    <mj-include path="./partials/style.css" type="css" />'),
      'templates/partials/header.mjml': '<mj-include path="./logo.mjml" />',
      'templates/partials/logo.mjml': '<mj-section><mj-column><mj-text>LOGO for {{ first_name }}</mj-text></mj-column></mj-section>',
      'templates/partials/note.html': '<p class="note">NOTE</p>',
      'templates/partials/style.css': '.note { color: #123456; }',
      'campaigns/a.yaml': campaignYaml(),
    });
    const config = configFor(dir, MARKETING_ENV);
    const campaign = await loadCampaign(path.join(dir, 'campaigns/a.yaml'), config);
    expect(campaign.sources.map((s) => s.file)).toEqual([
      'templates/t.mjml', 'templates/partials/header.mjml', 'templates/partials/note.html', 'templates/partials/style.css', 'templates/partials/logo.mjml',
    ]);
    const html = (await compileCampaign(campaign, config)).render(SAMPLE_RECIPIENT).html;
    expect(html).toContain('LOGO for Ada');
    expect(html).toContain('<p class="note">NOTE</p>');
    expect(html).toContain('#123456');
  });

  it('refuses a campaign file or template over 1 MB without reading it all, and a FIFO without waiting', async () => {
    const big = 'x'.repeat(MAX_CAMPAIGN_FILE_BYTES + 1);
    const problems = await problemsOf({
      'campaigns/a.yaml': campaignYaml(),
      'templates/t.mjml': `<mjml><mj-body><mj-raw>${big}</mj-raw></mj-body></mjml>`,
      'campaigns/b.yaml': `${campaignYaml().replace('id: 7', 'id: 8')}# ${big}\n`,
    });
    expect(problems).toEqual([
      'campaigns/a.yaml:5:11: template "templates/t.mjml" is 1.0 MB; at most 1.0 MB is read',
      'campaigns/b.yaml:1:1: the campaign file is 1.0 MB; at most 1.0 MB is read',
    ]);
    const dir = project({ 'campaigns/a.yaml': campaignYaml() });
    mkdirSync(path.join(dir, 'templates'));
    execFileSync('mkfifo', [path.join(dir, 'templates/t.mjml')]);
    expect(readConfined(path.join(dir, 'templates/t.mjml'), dir)).toEqual({ ok: false, reason: 'is not a regular file (a device, socket or pipe)' });
    const huge = path.join(dir, 'huge.mjml');
    writeFileSync(huge, '');
    execFileSync('truncate', ['-s', '50M', huge]);
    expect(readConfined(huge, dir)).toMatchObject({ ok: false, reason: 'is 50.0 MB; at most 1.0 MB is read' });
  });
});

describe('campaign data', () => {
  it('renders a YAML alias as the value it points to', async () => {
    const dir = project({
      'templates/t.mjml': TEMPLATE.replace('Hello {{', '<a href="{{ data.link }}">{{ data.again.label }}</a> Hello {{'),
      'campaigns/a.yaml': campaignYaml('data:\n  url: &url https://example.com/launch\n  link: *url\n  button: &b { label: Read more }\n  again: *b\n'),
    });
    const config = configFor(dir, MARKETING_ENV);
    const html = (await compileCampaign(await loadCampaign(path.join(dir, 'campaigns/a.yaml'), config), config)).render(SAMPLE_RECIPIENT).html;
    expect(html).toContain('href="https://example.com/launch');
    expect(html).toContain('>Read more</a>');
    expect(html).not.toContain('[object Object]');
  });

  it('fails validation for a data value with a line break that the subject or preheader prints', async () => {
    const problems = await problemsOf({
      'templates/t.mjml': TEMPLATE,
      'campaigns/a.yaml': campaignYaml('preheader: "{{ data.teaser }}"\ndata:\n  title: "Big\\r\\nBcc: victim@example.com"\n  body: "two\\nlines are fine here"\n  teaser:\n    - "ok"\n').replace(/^subject: .*$/m, 'subject: "{{ data.title }} for {{ first_name }}"'),
    });
    expect(problems).toEqual(['campaigns/a.yaml:8:10: data.title contains a line break, and the subject uses it']);
    const nested = await problemsOf({
      'templates/t.mjml': TEMPLATE,
      'campaigns/a.yaml': campaignYaml('preheader: "{{ data.list | join(\', \') }}"\ndata:\n  list: [one, "two\\nthree"]\n'),
    });
    expect(nested).toEqual(['campaigns/a.yaml:8:15: data.list.1 contains a line break, and the preheader uses it']);
  });

  it('refuses data keys a template could never read', async () => {
    const problems = await problemsOf({ 'templates/t.mjml': TEMPLATE, 'campaigns/a.yaml': campaignYaml('data:\n  _secret: 1\n') });
    expect(problems).toEqual(['campaigns/a.yaml:7:3: data key "_secret" is not usable in a template']);
  });
});
