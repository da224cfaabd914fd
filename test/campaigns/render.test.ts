import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileCampaign, decorateLinks, loadCampaign, SAMPLE_RECIPIENT, verifyUnsubscribeToken, type RenderRecipient } from '../../src/campaigns/index.js';
import { loadConfig } from '../../src/config/config.js';
import { MarketerError } from '../../src/errors.js';
import { campaignYaml, configFor, MARKETING_ENV, project, TEMPLATE } from './fixtures.js';

async function compile(template: string, yaml = campaignYaml(), env: Record<string, string> = MARKETING_ENV) {
  const dir = project({ 'templates/t.mjml': template, 'campaigns/a.yaml': yaml });
  const config = configFor(dir, env);
  return compileCampaign(await loadCampaign(path.join(dir, 'campaigns/a.yaml'), config), config);
}

async function compileProblems(template: string, yaml?: string): Promise<string[]> {
  try {
    await compile(template, yaml);
  } catch (err) {
    expect(err).toBeInstanceOf(MarketerError);
    expect((err as MarketerError).exitCode).toBe(2);
    return (err as MarketerError).details;
  }
  throw new Error('expected the template to be rejected');
}

const recipient: RenderRecipient = {
  subscriberId: '1234',
  email: 'grace@example.com',
  first_name: 'Grace',
  last_name: 'Hopper',
  timezone: 'America/New_York',
  attributes: { plan: 'team' },
};

describe('compiling and rendering a campaign', () => {
  it('renders subject, HTML, text and one-click headers per recipient', async () => {
    const compiled = await compile(TEMPLATE, campaignYaml('preheader: "News for {{ first_name }}"\nreply_to: [a@example.com, "B <b@example.com>"]\n'));
    const m = compiled.render(recipient);
    expect(m.subject).toBe('Hi Grace');
    expect(m.preheader).toBe('News for Grace');
    expect(m.from).toBe('News <news@example.com>');
    expect(m.replyTo).toEqual(['a@example.com', 'B <b@example.com>']);
    expect(m.html).toContain('Hello Grace!');
    expect(m.html).toContain('<title>Hi Grace</title>');
    expect(m.html).toContain('News for Grace</div>');
    expect(m.text).toContain('Hello Grace!');
    expect(m.unsubscribeUrl).toMatch(/^https:\/\/mail\.example\.com\/u\/1234\.7\.[A-Za-z0-9_-]{22}$/);
    expect(m.unsubscribeUrl).not.toContain('grace');
    expect(m.html).toContain(`href="${m.unsubscribeUrl}"`);
    expect(m.text).toContain(`Unsubscribe [${m.unsubscribeUrl}]`);
    expect(m.headers).toEqual([
      { name: 'List-Unsubscribe', value: `<${m.unsubscribeUrl}>` },
      { name: 'List-Unsubscribe-Post', value: 'List-Unsubscribe=One-Click' },
    ]);
    expect(m.listManagement).toBeUndefined();
    const token = m.unsubscribeUrl!.split('/').pop()!;
    expect(verifyUnsubscribeToken('test-secret', token)).toEqual({ subscriberId: '1234', campaignId: 7 });
  });

  it('falls back with default() when a subscriber has no first name', async () => {
    const compiled = await compile(TEMPLATE);
    const m = compiled.render({ ...recipient, first_name: null });
    expect(m.subject).toBe('Hi there');
    expect(m.html).toContain('Hello there!');
  });

  it('gives the same output for the same input', async () => {
    const a = (await compile(TEMPLATE)).render(recipient);
    const b = (await compile(TEMPLATE)).render(recipient);
    expect(a).toEqual(b);
  });

  it('escapes personal values in HTML and keeps them literal in the text part', async () => {
    const compiled = await compile(TEMPLATE.replace('</mj-text>', ' <a href="https://example.com/p?plan={{ attributes.plan }}">plan</a></mj-text>'));
    const m = compiled.render({ ...recipient, first_name: '"><img src=x onerror=alert(1)>', attributes: { plan: '<script>alert(1)</script>' } });
    expect(m.html).toContain('Hello &quot;&gt;&lt;img src=x onerror=alert(1)&gt;!');
    expect(m.html).not.toContain('<img src=x');
    expect(m.html).not.toContain('<script>');
    expect(m.html).toContain('plan=&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(m.text).toContain('Hello "><img src=x onerror=alert(1)>!');
    expect(m.subject).toBe('Hi "><img src=x onerror=alert(1)>');
  });

  it('refuses to render a subject with a line break from subscriber data', async () => {
    const compiled = await compile(TEMPLATE);
    expect(() => compiled.render({ ...recipient, first_name: 'Eve\r\nBcc: all@example.com' })).toThrow(
      'The subject for subscriber 1234 of campaign 7 would contain a line break.',
    );
  });

  it('adds UTM parameters to http(s) links, not to the unsubscribe link or ones already set', async () => {
    const template = TEMPLATE.replace(
      '<mj-text><a href="{{ unsubscribe_url }}">',
      `<mj-text>
          <a href="https://example.com/a#top">a</a>
          <a href="https://example.com/b?x=1&amp;utm_source=partner">b</a>
          <a href="mailto:hi@example.com">mail</a>
          <a href="{{ data.link }}">data link</a>
        </mj-text>
        <mj-text><a href="{{ unsubscribe_url }}">`,
    );
    const compiled = await compile(template, campaignYaml('utm: { source: newsletter, medium: email, campaign: "spring sale" }\ndata: { link: "https://example.com/d" }\n'));
    expect(compiled.links).toEqual([
      'https://example.com/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale',
      'https://example.com/a?utm_source=newsletter&utm_medium=email&utm_campaign=spring%20sale#top',
      'https://example.com/b?x=1&utm_source=partner&utm_medium=email&utm_campaign=spring%20sale',
    ]);
    const m = compiled.render(recipient);
    expect(m.html).toContain('href="https://example.com/pricing?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=spring%20sale"');
    expect(m.html).toContain('href="https://example.com/d?utm_source=newsletter&amp;utm_medium=email&amp;utm_campaign=spring%20sale"');
    expect(m.html).toContain('href="mailto:hi@example.com"');
    expect(m.html).toContain(`href="${m.unsubscribeUrl}"`);
    expect(m.unsubscribeUrl).not.toContain('utm_');
  });

  it('decorates a link per recipient right for every recipient, past the links it keeps decorated', async () => {
    const template = TEMPLATE.replace('<mj-text><a href="{{ unsubscribe_url }}">', '<mj-text><a href="{{ attributes.page }}">yours</a></mj-text>\n        <mj-text><a href="{{ unsubscribe_url }}">');
    const compiled = await compile(template, campaignYaml('utm: { source: newsletter }\n'));
    for (let i = 0; i < 5000; i += 1) {
      const page = `https://example.com/p/${i % 4500}?v=${i % 3}`;
      const m = compiled.render({ ...recipient, subscriberId: String(i), attributes: { page } });
      if (!m.html.includes(`href="${page}&amp;utm_source=newsletter"`)) throw new Error(`recipient ${i}: ${page} was not decorated as it should be`);
    }
    // Repeated and plain links come out the same however often they are seen.
    const again = compiled.render({ ...recipient, attributes: { page: 'https://example.com/p/7?v=1' } });
    expect(again.html).toContain('href="https://example.com/p/7?v=1&amp;utm_source=newsletter"');
    expect(again.text).toContain('https://example.com/p/7?v=1&utm_source=newsletter');
  });

  it('decorates links without touching placeholders inside them', () => {
    const { html } = decorateLinks(`<a href="https://example.com/{{ data.slug }}?a=1">x</a><link href="https://fonts.example.com/css">`, { utm_source: 'n' });
    expect(html).toBe(`<a href="https://example.com/{{ data.slug }}?a=1&amp;utm_source=n">x</a><link href="https://fonts.example.com/css">`);
  });

  it('fails strict MJML with the template line, and explains placeholders in colours', async () => {
    const template = TEMPLATE.replace('<mj-section>', '<mj-section background-color="{{ data.colour }}">').replace('<mj-column>', '<mj-column>\n        <mj-texte>typo</mj-texte>');
    expect(await compileProblems(template)).toEqual([
      'templates/t.mjml:3:1: MJML (strict): <mj-section> Attribute background-color has invalid value: {{ data.colour }} for type Color (strict MJML checks attribute values such as colours and sizes before Nunjucks runs, so a {{ placeholder }} cannot stand in for one: write the literal value, or put the markup in <mj-raw>)',
      'templates/t.mjml:5:1: MJML (strict): <mj-texte> Element mj-texte doesn\'t exist or is not registered',
      // The same run goes on to render the sample, which finds the campaign has no data.colour.
      'templates/t.mjml:3:35: "{{ data.colour }}" is undefined for the sample subscriber (check the name (campaign variables are data.<name>); a value that may be missing needs a fallback, e.g. {{ data.note | default(\'\') }})',
    ]);
  });

  it('reports a missing variable at validate time with its line, not a blank in production', async () => {
    const template = TEMPLATE.replace('Hello {{ first_name', 'Hello {{ frist_name');
    expect(await compileProblems(template)).toEqual([
      'templates/t.mjml:5:27: unknown variable "frist_name" (did you mean "first_name"?)',
    ]);
    const dataTypo = TEMPLATE.replace('Hello', 'Hello {{ data.hero }}');
    expect(await compileProblems(dataTypo, campaignYaml('data: { heros: x }\n'))).toEqual([
      'templates/t.mjml:5:24: "{{ data.hero }}" is undefined for the sample subscriber (check the name (campaign variables are data.<name>); a value that may be missing needs a fallback, e.g. {{ data.note | default(\'\') }})',
    ]);
  });

  it('finds Nunjucks tags MJML dropped, and a marketing template without an unsubscribe link', async () => {
    const template = TEMPLATE.replace('    <mj-section>', '    {% if first_name %}\n    <mj-section>').replace('    </mj-section>', '    </mj-section>\n    {% endif %}');
    expect(await compileProblems(template)).toEqual([
      'templates/t.mjml:3:5: MJML dropped "{% if first_name %}" while compiling (MJML keeps text only inside content elements (mj-text, mj-button, mj-raw …): wrap a {% if %} or {% for %} that spans sections in <mj-raw>, e.g. <mj-raw>{% if first_name %}</mj-raw>)',
      'templates/t.mjml:11:5: MJML dropped "{% endif %}" while compiling (MJML keeps text only inside content elements (mj-text, mj-button, mj-raw …): wrap a {% if %} or {% for %} that spans sections in <mj-raw>, e.g. <mj-raw>{% if first_name %}</mj-raw>)',
    ]);
    const noLink = TEMPLATE.replace('<a href="{{ unsubscribe_url }}">Unsubscribe</a>', 'Bye');
    expect(await compileProblems(noLink)).toEqual([
      'templates/t.mjml:1:1: this marketing template has no unsubscribe link (add one, e.g. <a href="{{ unsubscribe_url }}">Unsubscribe</a> in the footer; one-to-one mail can say transactional: true in the campaign)',
    ]);
  });

  it('uses SES list management when configured: SES supplies the link and the headers', async () => {
    const compiled = await compile(TEMPLATE, campaignYaml(), { MARKETER_LIST_MANAGEMENT_CONTACT_LIST: 'main', MARKETER_LIST_MANAGEMENT_TOPIC: 'weekly' });
    const m = compiled.render(recipient);
    expect(m.headers).toEqual([]);
    expect(m.unsubscribeUrl).toBeUndefined();
    expect(m.listManagement).toEqual({ contactListName: 'main', topicName: 'weekly' });
    expect(m.html).toContain('href="{{amazonSESUnsubscribeUrl}}"');
  });

  it('sends transactional mail without unsubscribe headers', async () => {
    const compiled = await compile(TEMPLATE.replace('<a href="{{ unsubscribe_url }}">Unsubscribe</a>', 'Thanks'), campaignYaml('transactional: true\n'), {});
    expect(compiled.render(SAMPLE_RECIPIENT).headers).toEqual([]);
  });

  it('compiles the repository\'s example newsletter', async () => {
    const config = loadConfig({ cwd: path.resolve('.'), env: { MARKETER_TRANSPORT: 'outbox' } });
    const campaign = await loadCampaign(path.resolve('campaigns/weekly.yaml'), config);
    const compiled = await compileCampaign(campaign, config);
    const m = compiled.render(SAMPLE_RECIPIENT);
    expect(m.subject).toBe('Ada, this week in the app');
    expect(m.html).toContain('Hi Ada, here is what shipped this week');
    expect(m.text).toContain('1. Scheduled exports [https://example.com/changelog/scheduled-exports?utm_source=newsletter&utm_medium=email&utm_campaign=weekly-48]');
  });
});
