import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';
import { findPgDump, hitsIn, pgDump, scanAllTables } from '../helpers/scan-database.js';
import { jsonl, publish, type MailOptions } from '../fixtures/ses/records.js';

/**
 * Erasure end to end through the CLI: import, send through the SES emulator, ingest every kind of
 * event (payloads kept), forget one person, then look for them in the whole database. Runs on
 * TEST_DATABASE_URL's server when set; where that server has TimescaleDB, the events sit in
 * compressed chunks when the person is forgotten.
 */
const s = useSendingStack();

const TARGET = 'Zelda.Quixote@Example.COM';
const NEEDLES = ['zelda.quixote@example.com', 'Zelda', 'Quixote', '203.0.113.77'];
const CSV = `email,first_name,last_name,timezone,tags,consent_ip,consent_text,company
${TARGET},Zelda,Quixote,Europe/Berlin,newsletter,203.0.113.77,Signed up at the fair,Quixote Windmills Ltd
ana@example.org,Ana,Lima,UTC,newsletter,198.51.100.1,Form,Acme
cy@example.org,Cy,Moss,UTC,newsletter,198.51.100.3,Form,Acme
di@example.org,Di,Ray,UTC,newsletter,198.51.100.4,Form,Acme
`;

function writeFile(name: string, text: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'marketer-forget-'));
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

async function isTimescale(): Promise<boolean> {
  const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'`.execute(s.t.db);
  return r.rows[0]!.n > 0;
}

// Each test runs a dozen CLI commands (import, send, events, forget, stats, pg_dump): seconds on a
// quiet machine, over a minute on a 2-core one running other suites beside it.
describe('subscribers forget', { timeout: 180_000 }, () => {
  it('erases one person from every table and payload, keeps the figures, and blocks a re-import', async () => {
    const env = { ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url, MARKETER_EVENTS_PAYLOAD: 'full' };
    const { dir, campaignFile } = makeCampaignRepo();
    const imported = await runCli(['import', writeFile('list.csv', CSV), '--json'], { cwd: dir, env });
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ inserted: 4 });
    const sent = await runCli(['send', campaignFile, '--now', '--json'], { cwd: dir, env });
    expect(sent.code, sent.stderr).toBe(0);
    expect((await s.ses.store()).map((m) => m.destination.to[0]!.toLowerCase()).sort()).toContain(TARGET.toLowerCase());

    const ledger = await sql<{ id: string; email: string; message_id: string; sent_at: Date }>`
      SELECT d.id::text AS id, lower(s.email) AS email, d.message_id, d.sent_at FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id`.execute(s.t.db);
    const m = (email: string): MailOptions => {
      const d = ledger.rows.find((r) => r.email === email)!;
      return { messageId: d.message_id, to: email === TARGET.toLowerCase() ? TARGET : email, at: new Date(d.sent_at).toISOString(), deliveryId: d.id, campaignId: 7 };
    };
    const zelda = m(TARGET.toLowerCase());
    const link = 'https://example.com/news?utm_source=marketer';
    const records = [
      publish.delivery(zelda), publish.open(zelda, 60), publish.click(zelda, 90, link), publish.subscription(zelda, 120, true),
      // Mail marketer did not send (another tool's): matched by nothing but the recipient.
      publish.bounce({ messageId: 'not-ours-1', to: TARGET, at: zelda.at }, 'Transient', 'MailboxFull'),
      publish.delivery(m('ana@example.org')), publish.open(m('ana@example.org'), 30), publish.click(m('ana@example.org'), 40, link),
      publish.bounce(m('cy@example.org'), 'Permanent', 'General'),
      publish.delivery(m('di@example.org')), publish.complaint(m('di@example.org')),
    ];
    const ingested = await runCli(['events', 'ingest', writeFile('events.jsonl', jsonl(records)), '--json'], { cwd: dir, env });
    expect(ingested.code, ingested.stderr).toBe(0);
    expect(JSON.parse(ingested.stdout)).toMatchObject({ ingested: records.length, malformed: 0 });

    // The person is there before (so the scan below can fail), payloads included.
    const before = await scanAllTables(s.t.db, NEEDLES);
    expect(before.some((h) => h.where.startsWith('public.subscribers'))).toBe(true);
    expect(before.some((h) => h.where.startsWith('public.email_events') || h.where.startsWith('_timescaledb_internal'))).toBe(true);
    const hashed = await sql<{ n: number }>`SELECT count(*)::int AS n FROM email_events WHERE recipient_hash IS NOT NULL`.execute(s.t.db);
    expect(hashed.rows[0]!.n).toBe(records.length);

    const access = await runCli(['subscribers', 'export', 'ZELDA.quixote@example.com', '--json'], { cwd: dir, env });
    expect(access.code, access.stderr).toBe(0);
    const doc = JSON.parse(access.stdout);
    expect(doc.subscriber).toMatchObject({ first_name: 'Zelda', last_name: 'Quixote', status: 'unsubscribed', tags: ['newsletter'],
      attributes: { company: 'Quixote Windmills Ltd' }, consent: { ip: '203.0.113.77', text: 'Signed up at the fair' } });
    expect(doc.deliveries).toMatchObject([{ campaign_id: 7, status: 'sent', wave_timezone: 'Europe/Berlin' }]);
    expect(doc.events.map((e: { type: string }) => e.type).sort()).toEqual(['Bounce', 'Click', 'Delivery', 'Open', 'Subscription']);
    expect(doc.suppression).toMatchObject({ reason: 'unsubscribed' });
    const statsBefore = await runCli(['stats', '7', '--json'], { cwd: dir, env });
    expect(statsBefore.code, statsBefore.stderr).toBe(0);
    const othersBefore = await sql`SELECT * FROM subscribers WHERE lower(email) <> ${TARGET.toLowerCase()} ORDER BY id`.execute(s.t.db);
    if (await isTimescale()) await sql`SELECT compress_chunk(c, true) FROM show_chunks('email_events') c`.execute(s.t.db);

    const forgot = await runCli(['subscribers', 'forget', 'zelda.QUIXOTE@example.com', '--json'], { cwd: dir, env });
    expect(forgot.code, forgot.stderr).toBe(0);
    expect(JSON.parse(forgot.stdout)).toEqual({ forgotten: 1, not_found: 0, rows: { subscribers: 1, deliveries: 1, events: 5, suppressions: 1 } });

    const statsAfter = await runCli(['stats', '7', '--json'], { cwd: dir, env });
    expect(JSON.parse(statsAfter.stdout)).toEqual(JSON.parse(statsBefore.stdout));
    const othersAfter = await sql`SELECT * FROM subscribers WHERE lower(email) <> ${TARGET.toLowerCase()} AND status <> 'forgotten' ORDER BY id`.execute(s.t.db);
    expect(othersAfter.rows).toEqual(othersBefore.rows);

    expect(await scanAllTables(s.t.db, NEEDLES)).toEqual([]);
    const bin = findPgDump();
    if (bin) {
      const dump = await pgDump(bin, s.t.url);
      expect(dump).toContain('COPY public.subscribers');
      expect(hitsIn(dump, ['ana@example.org'])).not.toEqual([]);
      expect(hitsIn(dump, NEEDLES)).toEqual([]);
    } else {
      console.warn('NOTICE: no pg_dump here (install postgresql-client); the erasure was checked table by table only.');
    }

    const audit = await sql<{ requested: number; forgotten: number; rows: unknown }>`SELECT requested, forgotten, rows FROM erasures`.execute(s.t.db);
    expect(audit.rows).toEqual([{ requested: 1, forgotten: 1, rows: { subscribers: 1, deliveries: 1, events: 5, suppressions: 1 } }]);

    const again = await runCli(['import', writeFile('again.csv', `email,first_name\n${TARGET.toUpperCase()},Zelda\n`), '--json'], { cwd: dir, env });
    expect(JSON.parse(again.stdout)).toMatchObject({ inserted: 0, updated: 0, suppressed: 1 });
    const exported = await runCli(['subscribers', 'export', TARGET, '--json'], { cwd: dir, env });
    expect(JSON.parse(exported.stdout)).toMatchObject({ subscriber: null, suppression: { reason: 'forgotten' }, deliveries: [], events: [] });
  });

  it('forgets a list from a file, counts addresses it never held, and is harmless when repeated', async () => {
    const env = { DATABASE_URL: s.t.url };
    const { dir } = makeCampaignRepo();
    await runCli(['import', writeFile('l.csv', 'email,first_name\nfay@example.net,Fay\ngus@example.net,Gus\n'), '--json'], { cwd: dir, env });
    const list = writeFile('erase.csv', 'name;email\nFay;FAY@example.net\nNobody;nobody@example.net\nbroken line\n');
    const r = await runCli(['subscribers', 'forget', '--file', list, '--json'], { cwd: dir, env });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('line 4: no address');
    expect(JSON.parse(r.stdout)).toEqual({ forgotten: 1, not_found: 1, rows: { subscribers: 1, deliveries: 0, events: 0, suppressions: 2 } });
    const repeat = await runCli(['subscribers', 'forget', 'fay@example.net', '--json'], { cwd: dir, env });
    expect(JSON.parse(repeat.stdout)).toMatchObject({ forgotten: 0, not_found: 1 });
    const gus = await runCli(['subscribers', 'show', 'gus@example.net', '--json'], { cwd: dir, env });
    expect(JSON.parse(gus.stdout)).toMatchObject({ subscriber: { email: 'gus@example.net', first_name: 'Gus', status: 'active' }, suppression: null });
    const unsub = await runCli(['subscribers', 'unsubscribe', 'GUS@example.net', 'hal@example.net', '--json'], { cwd: dir, env });
    expect(JSON.parse(unsub.stdout)).toEqual({ unsubscribed: 1, already: 0, not_found: 1, skipped_deliveries: 0 });
    const reimport = await runCli(['import', writeFile('r.csv', 'email\ngus@example.net\nhal@example.net\n'), '--json'], { cwd: dir, env });
    expect(JSON.parse(reimport.stdout)).toMatchObject({ inserted: 0, suppressed: 2 });
    const none = await runCli(['subscribers', 'forget', '--json'], { cwd: dir, env });
    expect(none.code).toBe(2);
  });
});
