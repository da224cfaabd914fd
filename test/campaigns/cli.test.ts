import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { campaignYaml, project, TEMPLATE } from './fixtures.js';

const env = { MARKETER_TRANSPORT: 'outbox', MARKETER_UNSUBSCRIBE_SECRET: 'test-secret', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u' };

describe('marketer validate', () => {
  it('says OK per campaign for the repository example', async () => {
    const r = await runCli(['validate'], { env: { MARKETER_TRANSPORT: 'outbox' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('OK campaigns/weekly.yaml: campaign 42 "Weekly update, week 48" (templates/weekly.mjml, 2 links)\n');
    expect(r.stderr).toContain('warning unsubscribe links use a development secret');
  });

  it('exits 2 with every problem from every file', async () => {
    const dir = project({
      'templates/t.mjml': TEMPLATE,
      'templates/bad.mjml': TEMPLATE.replace('Hello {{ first_name', 'Hello {{ frist_name'),
      'campaigns/a.yaml': campaignYaml(),
      'campaigns/b.yaml': campaignYaml('colour: blue\n').replace('id: 7', 'id: 8'),
      'campaigns/c.yaml': campaignYaml().replace('id: 7', 'id: 9').replace('templates/t.mjml', 'templates/bad.mjml'),
    });
    const r = await runCli(['validate'], { cwd: dir, env });
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`error 2 problems found (1 campaign OK):
  campaigns/b.yaml:6:1: unknown key "colour" in campaign (known keys: id, name, subject, preheader, from, reply_to, template, data, audience, schedule, utm, transactional, variants, test)
  templates/bad.mjml:5:27: unknown variable "frist_name" (did you mean "first_name"?)
hint The campaign file format is in \`marketer validate --help\` and docs/campaign-file.md.
`);
    const json = await runCli(['validate', 'campaigns/b.yaml', '--json'], { cwd: dir, env });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout).error.details).toEqual([
      'campaigns/b.yaml:6:1: unknown key "colour" in campaign (known keys: id, name, subject, preheader, from, reply_to, template, data, audience, schedule, utm, transactional, variants, test)',
    ]);
  });

  it('documents the schema in --help', async () => {
    const r = await runCli(['validate', '--help'], { env: { COLUMNS: '100' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('schedule: { at: "2026-12-01 08:00", timezone: subscriber, late: send, late_grace: 6h }');
  });
});

describe('marketer preview', () => {
  let db: TestDb;
  beforeAll(async () => {
    db = await createTestDb();
    await db.pool.query(
      `INSERT INTO subscribers (email, first_name, timezone, attributes) VALUES ('Grace@Example.com', '<b>Grace</b>', 'America/New_York', '{"plan":"team"}')`,
    );
  });
  afterAll(async () => {
    await db.close();
  });

  it('renders the sample subscriber to a file and prints subject, size and links', async () => {
    const dir = project({ 'templates/t.mjml': TEMPLATE, 'campaigns/a.yaml': campaignYaml('preheader: Fresh news\n') });
    const out = path.join(dir, 'out.html');
    const r = await runCli(['preview', 'campaigns/a.yaml', '--sample', '--out', out], { cwd: dir, env });
    expect(r.code).toBe(0);
    expect(readFileSync(out, 'utf8')).toContain('Hello Ada!');
    expect(r.stdout).toContain('Subject    Hi Ada\n');
    expect(r.stdout).toContain('Preheader  Fresh news\n');
    expect(r.stdout).toMatch(/Size {7}[\d,]+ bytes HTML, [\d,]+ bytes text/);
    expect(r.stdout).toContain('Links      2\n  https://example.com/pricing\n  https://mail.example.com/u/0.7.');
  });

  it('renders a real subscriber from the database, escaped, as text on stdout', async () => {
    const dir = project({ 'templates/t.mjml': TEMPLATE, 'campaigns/a.yaml': campaignYaml() });
    const r = await runCli(['preview', 'campaigns/a.yaml', '--email', 'grace@example.com', '--text'], { cwd: dir, env: { ...env, DATABASE_URL: db.url } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Hello <b>Grace</b>!');
    expect(r.stderr).toContain('Subject    Hi <b>Grace</b>');
    const html = await runCli(['preview', 'campaigns/a.yaml', '--email', 'grace@example.com', '--json'], { cwd: dir, env: { ...env, DATABASE_URL: db.url } });
    expect(JSON.parse(html.stdout).html).toContain('Hello &lt;b&gt;Grace&lt;/b&gt;!');
    const missing = await runCli(['preview', 'campaigns/a.yaml', '--email', 'nobody@example.com'], { cwd: dir, env: { ...env, DATABASE_URL: db.url } });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('error No subscriber nobody@example.com.');
  });
});
