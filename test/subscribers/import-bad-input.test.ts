import { linkSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parseConsentDate } from '../../src/subscribers/consent-date.js';
import { readLines } from '../../src/subscribers/read-lines.js';
import { rejectsCell } from '../../src/subscribers/rejects-file.js';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

let t: TestDb;
let dir: string;
beforeAll(async () => {
  t = await createTestDb();
  dir = mkdtempSync(path.join(tmpdir(), 'marketer-import-bad-'));
});
afterAll(async () => t.close());
beforeEach(async () => {
  await sql`TRUNCATE subscribers, suppressions RESTART IDENTITY CASCADE`.execute(t.db);
});

function file(name: string, content: string | Buffer): string {
  const p = path.join(dir, name);
  writeFileSync(p, content);
  return p;
}

interface ImportDoc {
  inserted: number; rejected: number; warnings: number; rows: number;
  rejects: { line: number; email: string; reason: string }[];
  warning_details: { line: number; email: string; reason: string }[];
}

async function importJson(csvPath: string, ...flags: string[]): Promise<ImportDoc> {
  const r = await runCli(['import', csvPath, '--json', ...flags], { env: { DATABASE_URL: t.url } });
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as ImportDoc;
}

const emails = async () => (await t.db.selectFrom('subscribers').select('email').orderBy('email').execute()).map((r) => r.email);

describe('import: values Postgres would refuse never reach it', () => {
  it('rejects or drops each bad value with its line and reason and imports every good row', async () => {
    // 200 good rows first, so that the NUL below sits past the first 8 KB of the file.
    const good = Array.from({ length: 200 }, (_, i) => `good${i}@example.com,Good ${i},Person,2024-01-01T10:00:00Z`);
    const parts: (string | Buffer)[] = [
      'email,first_name,last_name,consent_at\n',
      'early@example.com,Early,,2025-06-01\n', // 2: a NUL in line 3, still inside the first 8 KB
      'nul1@example.com,Nu\u0000ll,,\n', // 3
      `${good.join('\n')}\n`, // 4–203
      'feb30@example.com,Feb,,2026-02-30\n', // 204: consent_at dropped with a warning
      'year0@example.com,Zero,,0000-01-01T00:00:00Z\n', // 205
      'offset@example.com,Off,,2026-01-10T10:00:00+16:00\n', // 206
      'future@example.com,Future,,2999-01-01T00:00:00Z\n', // 207: imported with a warning
      'nul2@example.com,Late,N\u0000ll,\n', // 208: past 8 KB
      Buffer.from('latin1@example.com,Ren', 'utf8'), Buffer.from([0xe9]), Buffer.from(',,\n'), // 209: Latin-1 é
      '"ctrl@example.com","Line\nBreak","Bell\u0007",2024-05-05\n', // 210–211: names dropped with warnings
      'leap@example.com,Leap,,2024-02-29T23:59:59.123456-05:30\n', // 212
      'last@example.com,Last,,\n', // 213
    ];
    const csvPath = file('bad-values.csv', Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : p))));
    expect(readFileSync(csvPath).indexOf('nul2@')).toBeGreaterThan(8192);

    const r = await importJson(csvPath);
    expect(r.rejects).toEqual([
      { line: 3, email: 'nul1@example.com', reason: 'contains a NUL byte' },
      { line: 208, email: 'nul2@example.com', reason: 'contains a NUL byte' },
      { line: 209, email: 'latin1@example.com', reason: 'not valid UTF-8 (save the file as UTF-8)' },
    ]);
    expect(r.warning_details).toEqual([
      { line: 204, email: 'feb30@example.com', reason: 'consent_at "2026-02-30": 2026-02 has no day 30; left empty' },
      { line: 205, email: 'year0@example.com', reason: 'consent_at "0000-01-01T00:00:00Z": year 0000 is before 1900; left empty' },
      { line: 206, email: 'offset@example.com', reason: 'consent_at "2026-01-10T10:00:00+16:00": offset +16:00 is outside -14:00 to +14:00; left empty' },
      { line: 207, email: 'future@example.com', reason: 'consent_at "2999-01-01T00:00:00Z" is in the future (imported as given)' },
      { line: 210, email: 'ctrl@example.com', reason: 'first_name has control characters; left empty' },
      { line: 210, email: 'ctrl@example.com', reason: 'last_name has control characters; left empty' },
    ]);
    expect(r).toMatchObject({ rows: 211, rejected: 3, warnings: 5, inserted: 208 });

    const stored = await t.db.selectFrom('subscribers').select(['email', 'first_name', 'last_name', 'consent_at']).execute();
    const by = new Map(stored.map((s) => [s.email, s]));
    expect(by.get('feb30@example.com')).toMatchObject({ first_name: 'Feb', consent_at: null });
    expect(by.get('future@example.com')?.consent_at?.toISOString()).toBe('2999-01-01T00:00:00.000Z');
    expect(by.get('ctrl@example.com')).toMatchObject({ first_name: null, last_name: null });
    expect(by.get('ctrl@example.com')?.consent_at?.toISOString()).toBe('2024-05-05T00:00:00.000Z');
    expect(by.get('leap@example.com')?.consent_at?.toISOString()).toBe('2024-03-01T05:29:59.123Z');
    expect(by.get('early@example.com')?.consent_at?.toISOString()).toBe('2025-06-01T00:00:00.000Z');
    expect(by.has('good199@example.com') && by.has('last@example.com')).toBe(true);
    expect(by.has('nul1@example.com') || by.has('nul2@example.com') || by.has('latin1@example.com')).toBe(false);
  });

  it('enforces the field limits per row; a 20 MB first_name costs its row and nothing else', async () => {
    const huge = 'x'.repeat(20 * 1024 * 1024);
    const csvPath = file('limits.csv', [
      'email,first_name,last_name,note',
      `name256@example.com,${'n'.repeat(256)},,`, // 2: at the limit
      `name257@example.com,${'n'.repeat(257)},,`, // 3
      `note4k@example.com,N,,${'é'.repeat(2048)}`, // 4: 4,096 bytes, at the limit
      `note4k1@example.com,N,,${'é'.repeat(2048)}x`, // 5
      `huge@example.com,${huge},,`, // 6
      'after@example.com,After,,', // 7
      `"quoted@example.com","${'q'.repeat(40_000)}\n${'q'.repeat(40_000)}",,`, // 8–9: a quoted record over 64 KB
      'tail@example.com,Tail,,', // 10
    ].join('\n'));
    const r = await importJson(csvPath);
    expect(r.rejects).toEqual([
      { line: 3, email: 'name257@example.com', reason: 'first_name is 257 characters (the limit is 256)' },
      { line: 5, email: 'note4k1@example.com', reason: 'note is 4,097 bytes (the limit is 4 KB)' },
      { line: 6, email: '', reason: 'row longer than 64 KB' },
      { line: 8, email: '', reason: 'row longer than 64 KB' },
    ]);
    expect(await emails()).toEqual(['after@example.com', 'name256@example.com', 'note4k@example.com', 'tail@example.com']);
  });

  it('rejects a NUL or bad byte in a row without refusing the file, and reads CR-only line ends', async () => {
    const csvPath = file('cr.csv', Buffer.concat([Buffer.from('email,first_name\rcr1@example.com,One\rbad@example.com,B'), Buffer.from([0xff, 0xfe]), Buffer.from('\rcr2@example.com,Two\r')]));
    const r = await importJson(csvPath);
    expect(r.rejects).toEqual([{ line: 3, email: 'bad@example.com', reason: 'not valid UTF-8 (save the file as UTF-8)' }]);
    expect(await emails()).toEqual(['cr1@example.com', 'cr2@example.com']);
  });
});

describe('import --rejects', () => {
  const bad = 'email,first_name,note\n=bad,"=HYPERLINK(""http://x"")",+1\nnope,@SUM(A1),-2\nalso-bad,"\tTab",ok\nok@example.com,Ok,\n';

  it('refuses the input file itself, also through a symlink or a hard link, before reading it (exit 2)', async () => {
    const input = file('self.csv', bad);
    const link = path.join(dir, 'self-link.csv');
    symlinkSync(input, link);
    const hard = path.join(dir, 'self-hard.csv');
    linkSync(input, hard);
    for (const target of [input, link, hard]) {
      const r = await runCli(['import', input, '--rejects', target], { env: { DATABASE_URL: t.url } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('is the input file itself');
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(readFileSync(input, 'utf8')).toBe(bad);
    }
    expect(await emails()).toEqual([]);
  });

  it('a directory or an unwritable path is exit 2 with one line, never a stack trace', async () => {
    const input = file('in.csv', bad);
    for (const [target, why] of [[dir, 'it is a directory'], [path.join(dir, 'no-such-folder', 'r.csv'), 'its folder does not exist']] as const) {
      const r = await runCli(['import', input, '--rejects', target], { env: { DATABASE_URL: t.url } });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`Cannot write --rejects ${target}: ${why}.`);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(await emails()).toEqual([]);
  });

  it('a --rejects file that cannot be written in full fails the import before it commits (exit 1)', async () => {
    const r = await runCli(['import', file('full.csv', bad), '--rejects', '/dev/full'], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Writing --rejects /dev/full failed: the disk is full.');
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(await emails()).toEqual([]);
  });

  it('neutralises cells a spreadsheet would run as formulas', async () => {
    const input = file('formulas.csv', bad);
    const out = path.join(dir, 'rejected.csv');
    const r = await importJson(input, '--rejects', out);
    expect(r.rejected).toBe(3);
    expect(readFileSync(out, 'utf8').split('\n')).toEqual([
      'line,reason,email,first_name,note',
      `2,malformed address,'=bad,"'=HYPERLINK(""http://x"")",'+1`,
      `3,malformed address,nope,'@SUM(A1),'-2`,
      `4,malformed address,also-bad,"'\tTab",ok`,
      '',
    ]);
  });
});

describe('import building blocks', () => {
  it('parseConsentDate accepts real instants only', () => {
    const now = new Date('2026-06-01T00:00:00Z');
    expect(parseConsentDate('2024-02-29', now)).toEqual({ value: '2024-02-29T00:00:00+00:00', future: false });
    expect(parseConsentDate('2026-06-01T10:00+14:00', now)).toEqual({ value: '2026-06-01T10:00:00+14:00', future: false });
    expect(parseConsentDate('2026-06-01T10:00-0200', now)).toEqual({ value: '2026-06-01T10:00:00-02:00', future: true });
    for (const bad of ['2023-02-29', '2026-13-01', '2026-04-31', '2026-01-01T24:00:00Z', '2026-01-01T10:60Z', '2026-01-01T10:00:00+14:30', '2026-01-01T10:00:00-15:00', '1', '1899-12-31']) {
      expect(parseConsentDate(bad, now)).toHaveProperty('problem');
    }
  });

  it('readLines drops an over-long line as it streams, whatever the chunking', async () => {
    async function* chunks() {
      yield Buffer.from('a\r');
      for (let i = 0; i < 300; i++) yield Buffer.alloc(64 * 1024, 0x78);
      yield Buffer.from('\nb\r\nc');
    }
    const lines = [];
    for await (const batch of readLines(Readable.from(chunks()), 64 * 1024)) lines.push(...batch);
    expect(lines).toEqual([{ no: 1, text: 'a' }, { no: 2, text: '', problem: 'too long' }, { no: 3, text: 'b' }, { no: 4, text: 'c' }]);
  });

  it('rejectsCell follows the OWASP advice', () => {
    expect(['=1+1', '+1', '-1', '@x', '\tx', '\rx', 'plain', 'a,b'].map(rejectsCell)).toEqual([
      "'=1+1", "'+1", "'-1", "'@x", `"'\tx"`, `"'\rx"`, 'plain', '"a,b"',
    ]);
  });
});
