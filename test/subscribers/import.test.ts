import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

let t: TestDb;
let dir: string;
beforeAll(async () => {
  t = await createTestDb();
  dir = mkdtempSync(path.join(tmpdir(), 'marketer-import-'));
});
afterAll(async () => t.close());
beforeEach(async () => {
  await sql`TRUNCATE subscribers, suppressions RESTART IDENTITY CASCADE`.execute(t.db);
});

function csv(name: string, text: string | Buffer): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function importJson(file: string, ...flags: string[]) {
  const r = await runCli(['import', file, '--json', ...flags], { env: { DATABASE_URL: t.url } });
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as {
    inserted: number; updated: number; unchanged: number; suppressed: number; rejected: number; warnings: number;
    duplicates: number; rows: number; rejects: { line: number; email: string; reason: string }[];
    warning_details: { line: number; email: string; reason: string }[];
  };
}

const subscribers = () =>
  t.db.selectFrom('subscribers').select(['email', 'first_name', 'last_name', 'timezone', 'tags', 'attributes', 'status', 'source', 'consent_at']).orderBy('email').execute();

describe('marketer import', () => {
  it('imports a file and prints exactly the documented JSON document', async () => {
    const file = csv('basic.csv', 'email,first_name,last_name,timezone,tags,plan\nada@example.com,Ada,Lovelace,Europe/London,newsletter;beta,pro\nGrace@Example.COM,Grace,,America/New_York,,\n');
    const r = await runCli(['import', file, '--json', '--source', 'signup'], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ inserted: 2, updated: 0, unchanged: 0, suppressed: 0, rejected: 0, warnings: 0, rejects: [] });
    const rows = await subscribers();
    expect(rows).toEqual([
      expect.objectContaining({ email: 'Grace@example.com', first_name: 'Grace', last_name: null, timezone: 'America/New_York', tags: [], attributes: {}, status: 'active', source: 'signup' }),
      expect.objectContaining({ email: 'ada@example.com', first_name: 'Ada', timezone: 'Europe/London', tags: ['newsletter', 'beta'], attributes: { plan: 'pro' } }),
    ]);
  });

  it('is idempotent: a second import changes nothing and says so; a changed row is updated', async () => {
    const text = 'email,first_name,timezone\na@example.com,A,UTC\nb@example.com,B,Asia/Tokyo\nc@example.com,C,\n';
    const file = csv('idem.csv', text);
    expect(await importJson(file)).toMatchObject({ inserted: 3, updated: 0, unchanged: 0 });
    expect(await importJson(file)).toMatchObject({ inserted: 0, updated: 0, unchanged: 3 });
    const changed = csv('idem2.csv', 'email,first_name,timezone\na@example.com,Alice,UTC\nB@EXAMPLE.com,B,Asia/Tokyo\nd@example.com,D,UTC\n');
    expect(await importJson(changed)).toMatchObject({ inserted: 1, updated: 1, unchanged: 1 });
    expect(await t.db.selectFrom('subscribers').select(sql<number>`count(*)::int`.as('n')).executeTakeFirst()).toEqual({ n: 4 });
  });

  it('writes nothing when the same file (no source column) is imported again; one changed row is one write', async () => {
    const text = 'email,first_name,last_name,timezone,tags,plan\nu1@example.com,U1,One,Europe/Paris,a;b,pro\nu2@example.com,U2,,,b,\nu3@example.com,U3,Three,Asia/Tokyo,,free\n';
    const file = csv('unchanged.csv', text);
    expect(await importJson(file, '--source', 'fair', '--tag', 'x')).toMatchObject({ inserted: 3, updated: 0, unchanged: 0 });
    // The row versions themselves: a new version changes xmin, a row lock sets xmax.
    const versions = () => sql<{ email: string; xmin: string; xmax: string; updated_at: Date }>`
      SELECT email, xmin::text, xmax::text, updated_at FROM subscribers ORDER BY email`.execute(t.db).then((r) => r.rows);
    const before = await versions();
    expect(await importJson(file)).toMatchObject({ inserted: 0, updated: 0, unchanged: 3, suppressed: 0 });
    expect(await importJson(file, '--source', 'other', '--tag', 'x')).toMatchObject({ inserted: 0, updated: 0, unchanged: 3 });
    expect(await versions()).toEqual(before);
    const changed = csv('unchanged2.csv', text.replace('u3@example.com,U3,Three,Asia/Tokyo,,free', 'u3@example.com,U3,Three,Asia/Tokyo,,paid'));
    expect(await importJson(changed)).toMatchObject({ inserted: 0, updated: 1, unchanged: 2 });
    const after = await versions();
    expect(after.slice(0, 2)).toEqual(before.slice(0, 2));
    expect(after[2]!.xmin).not.toBe(before[2]!.xmin);
    expect(after[2]!.updated_at.getTime()).toBeGreaterThan(before[2]!.updated_at.getTime());
    expect((await subscribers()).map((x) => [x.email, x.timezone, x.tags, x.attributes, x.source])).toEqual([
      ['u1@example.com', 'Europe/Paris', ['a', 'b', 'x'], { plan: 'pro' }, 'fair'],
      ['u2@example.com', 'UTC', ['b', 'x'], {}, 'fair'],
      ['u3@example.com', 'Asia/Tokyo', ['x'], { plan: 'paid' }, 'fair'],
    ]);
  });

  it('keeps what the file does not say: empty cells, missing columns, existing tags', async () => {
    await importJson(csv('k1.csv', 'email,first_name,last_name,timezone,tags\nk@example.com,Kay,Smith,Europe/Paris,a;b\n'));
    const r = await importJson(csv('k2.csv', 'email,first_name,tags\nk@example.com,,c\n'));
    expect(r).toMatchObject({ updated: 1 });
    const [row] = await subscribers();
    expect(row).toMatchObject({ first_name: 'Kay', last_name: 'Smith', timezone: 'Europe/Paris', tags: ['a', 'b', 'c'] });
  });

  it('keeps a stored zone when a re-import leaves the cell empty or gives an unknown zone, and --source only fills gaps', async () => {
    await importJson(csv('z1.csv', 'email,timezone,source\ntokyo@example.com,Asia/Tokyo,webinar\nblank@example.com,Europe/Paris,\n'));
    const r = await importJson(csv('z2.csv', 'email,timezone,first_name\ntokyo@example.com,,T\nblank@example.com,Mars/Base,B\nnew@example.com,,N\n'), '--source', 'import-2');
    expect(r).toMatchObject({ inserted: 1, updated: 2, warnings: 1 });
    const rows = await subscribers();
    expect(rows.map((x) => [x.email, x.timezone, x.source])).toEqual([
      ['blank@example.com', 'Europe/Paris', 'import-2'],
      ['new@example.com', 'UTC', 'import-2'],
      ['tokyo@example.com', 'Asia/Tokyo', 'webinar'],
    ]);
  });

  it('never resurrects unsubscribed, bounced, complained or suppressed addresses', async () => {
    await importJson(csv('s1.csv', 'email\nunsub@example.com\nbounce@example.com\nok@example.com\n'));
    await t.db.updateTable('subscribers').set({ status: 'unsubscribed' }).where('email', '=', 'unsub@example.com').execute();
    await t.db.updateTable('subscribers').set({ status: 'bounced' }).where('email', '=', 'bounce@example.com').execute();
    await sql`INSERT INTO suppressions (email_hash, reason) VALUES (marketer_address_hash('forgotten@example.com'), 'forgotten')`.execute(t.db);
    const r = await importJson(csv('s2.csv', 'email,first_name\nUnsub@example.com,U\nbounce@example.com,B\nFORGOTTEN@example.com,F\nok@example.com,O\n'));
    expect(r).toMatchObject({ inserted: 0, updated: 1, suppressed: 3 });
    const rows = await subscribers();
    expect(rows.map((x) => [x.email, x.status, x.first_name])).toEqual([
      ['bounce@example.com', 'bounced', null],
      ['ok@example.com', 'active', 'O'],
      ['unsub@example.com', 'unsubscribed', null],
    ]);
  });

  it('rejects bad rows with line numbers and reasons and still imports the good ones', async () => {
    const long = `${'x'.repeat(65)}@example.com`;
    const file = csv('hygiene.csv', [
      'email,first_name,timezone',
      'good@example.com,G,UTC',          // 2
      'not-an-address,N,UTC',            // 3
      `${long},L,UTC`,                   // 4
      ',Empty,UTC',                      // 5
      'zone@example.com,Z,Mars/Olympus', // 6 kept with default zone + warning
      'postmaster@example.com,P,UTC',    // 7 role account: warning
      'temp@mailinator.com,T,UTC',       // 8 disposable: warning
      'a@b@c.com,X,UTC',                 // 9
      'two@example.com,X,UTC,extra',     // 10 too many fields
      'dup@example.com,First,UTC',       // 11
      'DUP@example.com,Last,UTC',        // 12 the last one wins
    ].join('\n'));
    const rejectsFile = path.join(dir, 'rejects.csv');
    const r = await importJson(file, '--rejects', rejectsFile);
    expect(r.rejects).toEqual([
      { line: 3, email: 'not-an-address', reason: 'malformed address' },
      { line: 4, email: long, reason: 'local part too long' },
      { line: 5, email: '', reason: 'missing email' },
      { line: 9, email: 'a@b@c.com', reason: 'malformed address' },
      { line: 10, email: 'two@example.com', reason: 'expected 3 fields, found 4' },
    ]);
    expect(r.warning_details).toEqual([
      { line: 6, email: 'zone@example.com', reason: 'invalid time zone "Mars/Olympus" (ignored: the stored zone stays, a new subscriber gets UTC)' },
      { line: 7, email: 'postmaster@example.com', reason: 'role account' },
      { line: 8, email: 'temp@mailinator.com', reason: 'disposable domain' },
    ]);
    expect(r).toMatchObject({ rejected: 5, warnings: 3, duplicates: 1, inserted: 5, rows: 11 });
    const rows = await subscribers();
    expect(rows.find((x) => x.email.toLowerCase() === 'dup@example.com')).toMatchObject({ email: 'DUP@example.com', first_name: 'Last' });
    expect(rows.find((x) => x.email === 'zone@example.com')?.timezone).toBe('UTC');
    const rejects = readFileSync(rejectsFile, 'utf8').split('\n');
    expect(rejects[0]).toBe('line,reason,email,first_name,timezone');
    expect(rejects[1]).toBe('3,malformed address,not-an-address,N,UTC');
    expect(rejects).toHaveLength(7);
  });

  it('rejects instead of warning with --strict-timezone and --reject-risky', async () => {
    const file = csv('strict.csv', 'email,timezone\nzone@example.com,Nowhere/City\nabuse@example.com,UTC\ntemp@mailinator.com,UTC\nfine@example.com,asia/kathmandu\n');
    const r = await importJson(file, '--strict-timezone', '--reject-risky');
    expect(r.rejects.map((x) => [x.line, x.reason])).toEqual([[2, 'invalid time zone "Nowhere/City"'], [3, 'role account'], [4, 'disposable domain']]);
    expect(r).toMatchObject({ inserted: 1, warnings: 0 });
    expect((await subscribers())[0]?.timezone).toBe('Asia/Kathmandu');
  });

  it('reads UTF-8 with BOM, CRLF, semicolons, and quoted fields holding delimiters, quotes and newlines', async () => {
    const text = '\uFEFFemail;first_name;note\r\n"q@example.com";"Zoë ""Z""";"line one\r\nline two; still note"\r\nr@example.com;Rob;plain\r\n';
    const r = await importJson(csv('bom.csv', Buffer.from(text, 'utf8')));
    expect(r).toMatchObject({ inserted: 2, rejected: 0 });
    const rows = await subscribers();
    expect(rows[0]).toMatchObject({ email: 'q@example.com', first_name: 'Zoë "Z"', attributes: { note: 'line one\nline two; still note' } });
    expect(rows[1]).toMatchObject({ email: 'r@example.com', attributes: { note: 'plain' } });
  });

  it('loses only the broken row when a quote is never closed', async () => {
    const file = csv('quote.csv', 'email,first_name\na@example.com,A\nb@example.com,"Bee\nc@example.com,C\nd@example.com,D\n');
    const r = await importJson(file);
    expect(r.rejects).toEqual([{ line: 3, email: '', reason: 'malformed CSV: unclosed quote at end of file' }]);
    expect((await subscribers()).map((x) => x.email)).toEqual(['a@example.com', 'c@example.com', 'd@example.com']);
  });

  it('--dry-run reports the same counts and writes nothing', async () => {
    const file = csv('dry.csv', 'email\nx@example.com\ny@example.com\nbad\n');
    const dry = await importJson(file, '--dry-run');
    expect(dry).toMatchObject({ inserted: 2, rejected: 1 });
    expect(await subscribers()).toEqual([]);
  });

  it('refuses a file that is not CSV or has no email column, with exit 2, writing nothing', async () => {
    const png = csv('image.csv', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d]));
    let r = await runCli(['import', png], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${png} is not a CSV file (it contains binary data).`);
    const noEmail = csv('noemail.csv', 'name,phone\nAda,123\n');
    r = await runCli(['import', noEmail], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${noEmail} has no "email" column (header: "name", "phone").`);
    r = await runCli(['import', path.join(dir, 'missing.csv'), '--json'], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout).error.code).toBe('CSV_UNREADABLE');
    expect(await subscribers()).toEqual([]);
  });

  it('stores consent columns and warns about an unreadable consent date', async () => {
    const file = csv('consent.csv', 'email,consent_at,consent_ip,consent_text\nc1@example.com,2026-03-01T10:00:00Z,203.0.113.9,Yes please\nc2@example.com,last tuesday,,\n');
    const r = await importJson(file);
    expect(r.warning_details).toEqual([{ line: 3, email: 'c2@example.com', reason: 'consent_at "last tuesday" is not an ISO-8601 date; left empty' }]);
    const row = await t.db.selectFrom('subscribers').selectAll().where('email', '=', 'c1@example.com').executeTakeFirstOrThrow();
    expect(row.consent_at?.toISOString()).toBe('2026-03-01T10:00:00.000Z');
    expect(row).toMatchObject({ consent_ip: '203.0.113.9', consent_text: 'Yes please' });
  });

  it('imports a 10k-row file with --tag in one go', async () => {
    const lines = ['email,first_name,timezone'];
    const zones = ['UTC', 'Europe/Berlin', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/St_Johns'];
    for (let i = 0; i < 10_000; i++) lines.push(`user${i}@example.com,User ${i},${zones[i % zones.length]}`);
    const r = await importJson(csv('10k.csv', lines.join('\n')), '--tag', 'bulk');
    expect(r).toMatchObject({ inserted: 10_000, rejected: 0, rows: 10_000 });
    const counts = await sql<{ n: number; tagged: number; kathmandu: number }>`
      SELECT count(*)::int AS n, count(*) FILTER (WHERE 'bulk' = ANY (tags))::int AS tagged,
             count(*) FILTER (WHERE timezone = 'Asia/Kathmandu')::int AS kathmandu FROM subscribers`.execute(t.db);
    expect(counts.rows[0]).toEqual({ n: 10_000, tagged: 10_000, kathmandu: 2_000 });
  });

  it('prints a human summary and lists rejected lines', async () => {
    const r = await runCli(['import', csv('human.csv', 'email\nok@example.com\nnope\n')], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('inserted    1');
    expect(r.stdout).toContain('line 3: malformed address (nope)');
  });
});
