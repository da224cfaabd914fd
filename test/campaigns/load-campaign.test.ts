import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCampaign, loadCampaigns } from '../../src/campaigns/index.js';
import { campaignYaml, configFor, MARKETING_ENV, problemsOf, project, TEMPLATE } from './fixtures.js';

describe('loading campaign files', () => {
  it('reads the documented example into typed values', async () => {
    const dir = project({
      'templates/t.mjml': TEMPLATE,
      'campaigns/weekly.yaml': `id: 42
name: Weekly update, week 48
subject: "{{ first_name | default('there') }}, this week in the app"
preheader: Three things we shipped
from: "Jane from App <jane@example.com>"
reply_to: support@example.com
template: templates/t.mjml
data: { hero_url: "https://example.com/img/hero.png" }
audience: { tags: [newsletter], exclude_tags: [churned] }
schedule: { at: "2026-12-01 08:00", timezone: subscriber, late: skip, late_grace: 1h30m }
utm: { source: newsletter, medium: email, campaign: weekly-48 }
transactional: false
`,
    });
    const c = await loadCampaign(path.join(dir, 'campaigns/weekly.yaml'), configFor(dir, MARKETING_ENV));
    expect(c).toMatchObject({
      id: 42,
      relFile: 'campaigns/weekly.yaml',
      from: 'Jane from App <jane@example.com>',
      replyTo: 'support@example.com',
      templatePath: path.join(dir, 'templates/t.mjml'),
      data: { hero_url: 'https://example.com/img/hero.png' },
      audience: { tags: ['newsletter'], excludeTags: ['churned'] },
      schedule: { at: { date: '2026-12-01', time: '08:00' }, timezone: 'subscriber', late: 'skip', lateGraceSeconds: 5400 },
      utm: { utm_source: 'newsletter', utm_medium: 'email', utm_campaign: 'weekly-48' },
      transactional: false,
      unsubscribe: { kind: 'token', baseUrl: 'https://mail.example.com/u', secret: 'test-secret', development: false },
      warnings: [],
    });
    expect(c.contentHash).toMatch(/^[0-9a-f]{64}$/);
  });

  it('defaults: send now, each subscriber\'s zone, late send within 6h, everyone, from marketer.yaml', async () => {
    const dir = project({
      'marketer.yaml': 'from: "Team <team@example.com>"\n',
      'templates/t.mjml': TEMPLATE,
      'campaigns/a.yaml': 'id: 1\nname: A\nsubject: Hello\ntemplate: templates/t.mjml\n',
    });
    const c = await loadCampaign(path.join(dir, 'campaigns/a.yaml'), configFor(dir, MARKETING_ENV));
    expect(c.from).toBe('Team <team@example.com>');
    expect(c.schedule).toEqual({ at: undefined, timezone: 'subscriber', late: 'send', lateGraceSeconds: 21600 });
    expect(c.audience).toEqual({ tags: [], excludeTags: [], steps: [] });
    expect(c.utm).toBeUndefined();
  });

  it('reports every problem at once, each with file, line, column and a hint', async () => {
    const dir = project({
      'campaigns/bad.yaml': `id: forty-two
name: Broken
subjct: Hi
template: templates/missing.mjml
audience: { tags: newsletter }
schedule:
  at: "2026-02-30 08:00"
  timezone: Europe/Atlantis
  late: maybe
  late_grace: 6
transactional: "no"
`,
    });
    const details = await problemsOf(loadCampaign(path.join(dir, 'campaigns/bad.yaml'), configFor(dir, MARKETING_ENV)));
    expect(details).toEqual([
      'campaigns/bad.yaml:3:1: unknown key "subjct" in campaign (did you mean "subject"?)',
      'campaigns/bad.yaml:1:1: missing required key "subject" (e.g. subject: "{{ first_name | default(\'there\') }}, this week in the app")',
      'campaigns/bad.yaml:1:5: "id" must be a whole number from 1 to 2147483647, got text "forty-two" (a stable number of your choosing, e.g. 42, used by `marketer stats 42`)',
      'campaigns/bad.yaml:1:1: no sender: set "from" in this file or in marketer.yaml (e.g. from: "Jane from App <jane@example.com>"; the address must be verified in SES)',
      'campaigns/bad.yaml:4:11: template "templates/missing.mjml" not found (looked for templates/missing.mjml) (template paths are relative to the folder holding marketer.yaml, e.g. templates/weekly.mjml)',
      'campaigns/bad.yaml:5:19: "audience.tags" must be a list, got text "newsletter" (e.g. tags: [newsletter])',
      'campaigns/bad.yaml:7:7: schedule.at "2026-02-30 08:00" is not a date and time (that day or time does not exist in the calendar)',
      'campaigns/bad.yaml:8:13: schedule.timezone "Europe/Atlantis" is not an IANA time zone ("subscriber" sends at each subscriber\'s own local time; or name one zone such as Europe/Berlin or America/New_York)',
      'campaigns/bad.yaml:9:9: schedule.late must be "send" or "skip", got "maybe" (send: a wave that is due but late goes out within late_grace; skip: it is skipped and counted)',
      'campaigns/bad.yaml:10:15: schedule.late_grace must be a duration up to 7d, got the number 6 (e.g. 6h, 90m, 1h30m, 2d)',
      'campaigns/bad.yaml:11:16: "transactional" must be true or false, got text "no"',
    ]);
  });

  it('rejects CR/LF in a subject and a bad sender, and unknown variables in the subject', async () => {
    const dir = project({
      'templates/t.mjml': TEMPLATE,
      'campaigns/a.yaml': `id: 1
name: A
subject: "Hi\\r\\nBcc: victim@example.com"
preheader: "For {{ frist_name }}"
from: "Evil\\r\\nBcc: x@example.com <a@example.com>"
template: templates/t.mjml
`,
    });
    const details = await problemsOf(loadCampaign(path.join(dir, 'campaigns/a.yaml'), configFor(dir, MARKETING_ENV)));
    expect(details).toEqual([
      'campaigns/a.yaml:3:10: "subject" contains a line break (it goes into a mail header, where CR/LF could inject headers: keep it on one line)',
      'campaigns/a.yaml:5:7: from: contains a line break, which would let it inject mail headers',
      'campaigns/a.yaml:4:12: preheader: unknown variable "frist_name" (did you mean "first_name"?)',
    ]);
  });

  it('finds duplicate ids across the repo and reports both files', async () => {
    const dir = project({
      'templates/t.mjml': TEMPLATE,
      'campaigns/a.yaml': campaignYaml(),
      'campaigns/nested/b.yaml': campaignYaml(),
      'campaigns/c.yaml': campaignYaml().replace('id: 7', 'id: 8'),
    });
    const details = await problemsOf(loadCampaigns([], configFor(dir, MARKETING_ENV)));
    expect(details).toEqual([
      'campaigns/a.yaml:1:5: id 7 is also used by campaigns/nested/b.yaml:1 (ids are how marketer tracks a campaign\'s sends and stats, so each file needs its own: pick an unused number)',
      'campaigns/nested/b.yaml:1:5: id 7 is also used by campaigns/a.yaml:1 (ids are how marketer tracks a campaign\'s sends and stats, so each file needs its own: pick an unused number)',
    ]);
  });

  it('needs an unsubscribe secret for marketing mail over SES, but not for transactional mail', async () => {
    const dir = project({ 'templates/t.mjml': TEMPLATE, 'campaigns/a.yaml': campaignYaml(), 'campaigns/t.yaml': campaignYaml('transactional: true\n').replace('id: 7', 'id: 9') });
    const config = configFor(dir, { MARKETER_TRANSPORT: 'ses' });
    const details = await problemsOf(loadCampaign(path.join(dir, 'campaigns/a.yaml'), config));
    expect(details).toEqual([
      'campaigns/a.yaml:1:1: marketing mail needs an unsubscribe link, but the environment variable MARKETER_UNSUBSCRIBE_SECRET and unsubscribe_url in marketer.yaml are not set (set MARKETER_UNSUBSCRIBE_SECRET (e.g. `openssl rand -hex 32`) and unsubscribe_url: https://mail.example.com/u, or let SES manage it with list_management.contact_list and list_management.topic, or mark one-to-one mail transactional: true)',
    ]);
    const t = await loadCampaign(path.join(dir, 'campaigns/t.yaml'), config);
    expect(t.unsubscribe).toEqual({ kind: 'none' });
  });

  it('uses a labelled development secret with the outbox, and says so', async () => {
    const dir = project({ 'templates/t.mjml': TEMPLATE, 'campaigns/a.yaml': campaignYaml() });
    const c = await loadCampaign(path.join(dir, 'campaigns/a.yaml'), configFor(dir));
    expect(c.unsubscribe).toMatchObject({ kind: 'token', baseUrl: 'http://localhost:8025/u', development: true });
    expect(c.warnings).toEqual([
      'unsubscribe links use a development secret and http://localhost:8025/u because MARKETER_UNSUBSCRIBE_SECRET and unsubscribe_url are not set; fine for the outbox, refused with transport ses',
    ]);
    // With the secret set, what is missing is the address the links point to.
    const withSecret = await loadCampaign(path.join(dir, 'campaigns/a.yaml'), configFor(dir, { MARKETER_UNSUBSCRIBE_SECRET: 'a'.repeat(64) }));
    expect(withSecret.warnings).toEqual([
      'unsubscribe links use a development secret and http://localhost:8025/u because unsubscribe_url is not set; fine for the outbox, refused with transport ses',
    ]);
  });

  it('changes the content hash when the template changes', async () => {
    const a = project({ 'templates/t.mjml': TEMPLATE, 'campaigns/a.yaml': campaignYaml() });
    const b = project({ 'templates/t.mjml': TEMPLATE.replace('Hello', 'Howdy'), 'campaigns/a.yaml': campaignYaml() });
    const ha = (await loadCampaign(path.join(a, 'campaigns/a.yaml'), configFor(a, MARKETING_ENV))).contentHash;
    const ha2 = (await loadCampaign(path.join(a, 'campaigns/a.yaml'), configFor(a, MARKETING_ENV))).contentHash;
    const hb = (await loadCampaign(path.join(b, 'campaigns/a.yaml'), configFor(b, MARKETING_ENV))).contentHash;
    expect(ha).toBe(ha2);
    expect(ha).not.toBe(hb);
  });
});
