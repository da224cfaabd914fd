import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SIMPLE_TEMPLATE } from '../helpers/campaign-repo.js';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { parseWithPython, pythonPath } from '../helpers/python-email.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';

const python = pythonPath();
if (!python) console.warn('NOTICE: no python3 with its email package (apt-get install python3): sent messages are not checked against Python\'s parser.');

const SUBJECT = 'ü'.repeat(400);
// 1,200 characters (code points): accents, CJK, emoji families (one grapheme of 7 code points each).
const DISPLAY_NAME = `${Array.from('Zoë Ångström-Łukasiewicz 東京 👩‍👩‍👧‍👦 '.repeat(40)).slice(0, 1199).join('')}.`;
const LOOKALIKE = '=?utf-8?q?Mallory?=';

/** A campaigns repository with one campaign file per entry, all mailing the `newsletter` tag. */
function repo(campaigns: { id: number; subject: string; from: string; replyTo?: string[] }[]): { dir: string; files: string[] } {
  const dir = mkdtempSync(path.join(tmpdir(), 'marketer-mime-'));
  mkdirSync(path.join(dir, 'campaigns'));
  mkdirSync(path.join(dir, 'templates'));
  writeFileSync(path.join(dir, 'marketer.yaml'), 'concurrency: 4\n');
  writeFileSync(path.join(dir, 'templates', 'simple.mjml'), SIMPLE_TEMPLATE);
  const files = campaigns.map((c) => {
    const file = path.join(dir, 'campaigns', `c${c.id}.yaml`);
    writeFileSync(file, [
      `id: ${c.id}`,
      'name: Headers',
      `subject: ${JSON.stringify(c.subject)}`,
      `from: ${JSON.stringify(c.from)}`,
      ...(c.replyTo ? [`reply_to: ${JSON.stringify(c.replyTo)}`] : []),
      'template: templates/simple.mjml',
      'audience: { tags: [newsletter] }',
      '',
    ].join('\n'));
    return file;
  });
  return { dir, files };
}

async function seed(db: TestDb['db']): Promise<void> {
  await sql`INSERT INTO subscribers (email, first_name, timezone, tags) VALUES
    ('ada@example.com', ${LOOKALIKE}, 'UTC', '{newsletter}'),
    ('bob@example.com', 'Bob', 'UTC', '{newsletter}')`.execute(db);
}

const outboxEnv = (url: string) => ({
  DATABASE_URL: url,
  MARKETER_TRANSPORT: 'outbox',
  MARKETER_UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret',
  MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u',
});

function emlFiles(folder: string): string[] {
  return readdirSync(folder).filter((f) => f.endsWith('.eml')).sort().map((f) => path.join(folder, f));
}

describe('messages written by the outbox transport', () => {
  let t: TestDb;
  beforeAll(async () => { t = await createTestDb(); });
  afterAll(async () => { await t?.close(); });
  beforeEach(async () => {
    await sql`TRUNCATE subscribers, suppressions, campaigns, deliveries RESTART IDENTITY CASCADE`.execute(t.db);
    await seed(t.db);
  });

  it.skipIf(!python)('a 400 × ü subject and a 1,200-character display name parse under policy.strict with no defects and no long lines', async () => {
    expect(Array.from(DISPLAY_NAME)).toHaveLength(1200);
    const { dir, files } = repo([
      { id: 31, subject: SUBJECT, from: `${DISPLAY_NAME} <news@example.com>`, replyTo: [`"${DISPLAY_NAME}" <reply@example.com>`, 'Desk <desk@example.com>'] },
      { id: 32, subject: 'Hi {{ first_name }}, =?UTF-8?B?aGk=?= stays text', from: `${LOOKALIKE} <news@example.com>` },
    ]);
    for (const file of files) {
      const r = await runCli(['send', file, '--now', '--json'], { cwd: dir, env: outboxEnv(t.url), timeoutMs: 120_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ sent: 2, status: 'done' });
    }
    const long = emlFiles(path.join(dir, 'outbox', '31'));
    const lookalike = emlFiles(path.join(dir, 'outbox', '32'));
    expect(long).toHaveLength(2);
    expect(lookalike).toHaveLength(2);
    const parsed = await parseWithPython(python!, [...long, ...lookalike]);
    for (const m of parsed) {
      expect(m.error, m.path).toBeUndefined();
      expect(m.defects, m.path).toEqual([]);
      expect(m.bareLineEnds, m.path).toBe(0);
      expect(Math.max(...m.headerLines), m.path).toBeLessThanOrEqual(78);
      expect(m.longestLine, m.path).toBeLessThanOrEqual(998);
      expect(m.text, m.path).toContain('Hello ');
    }
    for (const m of parsed.slice(0, 2)) {
      expect(m.headers.subject?.[0]?.value).toBe(SUBJECT);
      expect(m.headers.from?.[0]?.addresses).toEqual([{ display_name: DISPLAY_NAME, addr_spec: 'news@example.com' }]);
      expect(m.headers['reply-to']?.[0]?.addresses).toEqual([
        { display_name: DISPLAY_NAME, addr_spec: 'reply@example.com' },
        { display_name: 'Desk', addr_spec: 'desk@example.com' },
      ]);
    }
    // A subscriber's name (and a subject, and a display name) that reads like an encoded-word is
    // shown as the text it is, not decoded by the reader.
    const subjects = parsed.slice(2).map((m) => m.headers.subject?.[0]?.value).sort();
    expect(subjects).toEqual([`Hi ${LOOKALIKE}, =?UTF-8?B?aGk=?= stays text`, `Hi Bob, =?UTF-8?B?aGk=?= stays text`]);
    for (const m of parsed.slice(2)) expect(m.headers.from?.[0]?.addresses).toEqual([{ display_name: LOOKALIKE, addr_spec: 'news@example.com' }]);
    for (const file of lookalike) expect(readFileSync(file, 'utf8')).not.toContain(LOOKALIKE);
  }, 180_000);

  it('never overwrites an earlier message: two databases with the same campaign and delivery ids write distinct files, 0600 in 0700 folders', async () => {
    const other = await createTestDb();
    try {
      await seed(other.db);
      const { dir, files } = repo([{ id: 7, subject: 'Hello {{ first_name }}', from: 'News <news@example.com>' }]);
      for (const url of [t.url, other.url]) {
        const r = await runCli(['send', files[0]!, '--now', '--json'], { cwd: dir, env: outboxEnv(url), timeoutMs: 120_000 });
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ sent: 2 });
      }
      const ids = async (db: TestDb['db']) => (await db.selectFrom('deliveries').select('id').orderBy('id').execute()).map((d) => String(d.id));
      expect(await ids(other.db)).toEqual(await ids(t.db));

      const outbox = path.join(dir, 'outbox');
      const folder = path.join(outbox, '7');
      const written = emlFiles(folder);
      expect(written).toHaveLength(4);
      const messageIds = new Set(written.map((f) => /^Message-ID: (.+)$/m.exec(readFileSync(f, 'utf8'))?.[1]));
      expect(messageIds.size).toBe(4);
      for (const f of written) {
        // Each file is named by its delivery and its message id, and holds that delivery.
        const [, delivery, id] = /^(\d+)-([0-9a-f-]{36})\.eml$/.exec(path.basename(f)) ?? [];
        const eml = readFileSync(f, 'utf8');
        expect(eml).toContain(`X-Marketer-Delivery: ${delivery}\r\n`);
        expect(eml).toContain(`Message-ID: <${id}@outbox.marketer>\r\n`);
        expect(statSync(f).mode & 0o777).toBe(0o600);
      }
      expect(statSync(outbox).mode & 0o777).toBe(0o700);
      expect(statSync(folder).mode & 0o777).toBe(0o700);
      expect(readdirSync(folder).filter((f) => f.endsWith('.tmp'))).toEqual([]);
    } finally {
      await other.close();
    }
  }, 180_000);
});

describe('messages sent through SES', () => {
  const s = useSendingStack();

  it.skipIf(!python)('a non-ASCII display name reaches SendEmail as RFC 2047 encoded-words, and SES accepts it', async () => {
    await seed(s.t.db);
    const name = 'Zoë Ångström 東京 👩‍👩‍👧‍👦';
    const { dir, files } = repo([{ id: 41, subject: 'Hi {{ first_name }}', from: `${name} <news@example.com>`, replyTo: [`${DISPLAY_NAME} <reply@example.com>`] }]);
    const r = await runCli(['send', files[0]!, '--now', '--json'], { cwd: dir, env: { ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url }, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sent: 2, status: 'done' });

    const requests = s.proxy.requests;
    expect(requests).toHaveLength(2);
    for (const req of requests) {
      expect(req.FromEmailAddress).toMatch(/^[\x20-\x7e]+$/);
      expect(req.FromEmailAddress).toMatch(/^=\?UTF-8\?[QB]\?[^ ]+\?=( =\?UTF-8\?[QB]\?[^ ]+\?=)* <news@example\.com>$/);
      for (const word of req.FromEmailAddress.split(' ')) expect(word.length).toBeLessThanOrEqual(75);
      expect(req.ReplyToAddresses?.every((a) => /^[\x20-\x7e]+$/.test(a))).toBe(true);
    }
    const ada = requests.find((q) => q.Destination.ToAddresses[0] === 'ada@example.com')!;
    // SES encodes a non-ASCII subject itself; an ASCII one that reads as encoded-words is encoded here.
    expect(ada.Content.Simple?.Subject.Data).not.toContain(LOOKALIKE);

    // What SES would put in the headers, read back by Python's parser (folded at the spaces).
    const eml = path.join(dir, 'ses-request.eml');
    writeFileSync(eml, [
      `From: ${ada.FromEmailAddress.replace(/ /g, '\r\n ')}`,
      `Reply-To: ${ada.ReplyToAddresses![0]!.replace(/ /g, '\r\n ')}`,
      `Subject: ${ada.Content.Simple!.Subject.Data.replace(/ /g, '\r\n ')}`,
      '', 'x', '',
    ].join('\r\n'));
    const [m] = await parseWithPython(python!, [eml]);
    expect(m!.defects).toEqual([]);
    expect(m!.headers.from?.[0]?.addresses).toEqual([{ display_name: name, addr_spec: 'news@example.com' }]);
    expect(m!.headers['reply-to']?.[0]?.addresses).toEqual([{ display_name: DISPLAY_NAME, addr_spec: 'reply@example.com' }]);
    expect(m!.headers.subject?.[0]?.value).toBe(`Hi ${LOOKALIKE}`);

    const stored = await s.ses.store();
    expect(stored.map((e) => e.from)).toEqual([ada.FromEmailAddress, ada.FromEmailAddress]);
  }, 180_000);
});
