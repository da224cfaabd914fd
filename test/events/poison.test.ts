import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isDataError, storeIsolatingRefused } from '../../src/events/isolate-poison.js';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { publish, snsEnvelope, type MailOptions } from '../fixtures/ses/records.js';
import { seedCampaign, seedDelivery, seedSubscriber } from '../fixtures/ses/seed.js';

let t: TestDb;
let m: MailOptions;
const dir = mkdtempSync(path.join(tmpdir(), 'marketer-poison-'));

beforeAll(async () => {
  t = await createTestDb();
  await seedCampaign(t.db, 42);
  const s = await seedSubscriber(t.db, 'ann@example.com');
  const delivery = await seedDelivery(t.db, { campaignId: 42, subscriberId: s, status: 'sent', messageId: 'msg-ann' });
  m = { messageId: 'msg-ann', to: 'ann@example.com', at: '2026-12-01T08:00:00.000Z', deliveryId: delivery, campaignId: 42 };
});

afterAll(async () => {
  await t?.close();
});

interface IngestDoc { ingested: number; malformed: number; duplicates: number; problems: { position: string; reason: string }[] }

async function ingest(name: string, text: string): Promise<IngestDoc> {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  const r = await runCli(['events', 'ingest', file, '--json'], { env: { DATABASE_URL: t.url } });
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as IngestDoc;
}

const eventCount = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM email_events`.execute(t.db)).rows[0]!.n;

describe('events ingest: one poison record costs one record', () => {
  it('stores every good record of a batch and reports each poison one with its line and reason', async () => {
    await sql`TRUNCATE email_events`.execute(t.db);
    const open = (after: number, patch: Record<string, unknown> = {}) => {
      const r = publish.open(m, after);
      return { ...r, open: { ...r.open, ...patch } };
    };
    const bounce = publish.bounce(m, 'Permanent', 'General');
    bounce.bounce.bouncedRecipients[0]!.diagnosticCode = 'smtp; 550\u0000 user unknown';
    const inTwoDays = new Date(Date.now() + 2 * 86_400_000).toISOString();
    const lines = [
      '{oops', // 1
      JSON.stringify(open(10)), // 2
      JSON.stringify(open(20)), // 3
      JSON.stringify(publish.delivery(m)), // 4
      JSON.stringify(open(30, { timestamp: '1' })), // 5
      JSON.stringify(open(31, { timestamp: '1999-12-31T23:59:59.000Z' })), // 6
      JSON.stringify(open(32, { timestamp: inTwoDays })), // 7
      JSON.stringify(bounce), // 8
      JSON.stringify(publish.click(m, 40, 'https://example.com/\u0000x')), // 9
      JSON.stringify(publish.click(m, 41, 'https://example.com/\ud800')), // 10
      JSON.stringify(open(33, { userAgent: 'x'.repeat(10 * 1024 * 1024) })), // 11
      JSON.stringify(publish.click(m, 50, 'https://example.com/ok')), // 12
      JSON.stringify(snsEnvelope(open(34), 'sns-\u0000')), // 13
      JSON.stringify({ ...open(35), eventType: 'X'.repeat(1000) }), // 14
      JSON.stringify({ ...open(36), 'bad\u0000key': 1 }), // 15
      JSON.stringify(open(37, { timestamp: '2026-02-30T10:00:00.000Z' })), // 16
    ];
    const r = await ingest('poison.jsonl', `${lines.join('\n')}\n`);
    const f = path.join(dir, 'poison.jsonl');
    expect(r.problems).toEqual([
      { position: `${f}:1`, reason: expect.stringMatching(/^not JSON/) },
      { position: `${f}:5`, reason: 'Open record: timestamp "1" is not an ISO 8601 time' },
      { position: `${f}:6`, reason: 'Open record: timestamp "1999-12-31T23:59:59.000Z" is before 2000' },
      { position: `${f}:7`, reason: `Open record: timestamp "${inTwoDays}" is more than a day in the future` },
      { position: `${f}:8`, reason: 'NUL character (\\u0000) in bounce.bouncedRecipients[0].diagnosticCode' },
      { position: `${f}:9`, reason: 'NUL character (\\u0000) in click.link' },
      { position: `${f}:10`, reason: 'invalid text (a lone UTF-16 surrogate) in click.link' },
      { position: `${f}:11`, reason: 'record larger than 256 KB' },
      { position: `${f}:13`, reason: 'SNS envelope whose MessageId is not an id' },
      { position: `${f}:14`, reason: 'event type longer than 64 characters' },
      { position: `${f}:15`, reason: 'NUL character (\\u0000) in a key of the record' },
      { position: `${f}:16`, reason: 'Open record: timestamp "2026-02-30T10:00:00.000Z" is not a real time' },
    ]);
    expect(r).toMatchObject({ ingested: 4, malformed: 12 });
    expect(await eventCount()).toBe(4);
  });

  it('reads a file whose first line is not JSON line by line: 3 good lines after {oops store 3', async () => {
    await sql`TRUNCATE email_events`.execute(t.db);
    const r = await ingest('oops.jsonl', `{oops\n${[publish.open(m, 100), publish.open(m, 101), publish.open(m, 102)].map((x) => JSON.stringify(x)).join('\n')}\n`);
    expect(r).toMatchObject({ ingested: 3, malformed: 1 });
    expect(r.problems[0]!.position).toBe(`${path.join(dir, 'oops.jsonl')}:1`);
    expect(await eventCount()).toBe(3);
  });
});

describe('storeIsolatingRefused', () => {
  it('loses only the rows Postgres refuses, whatever their place in the batch', async () => {
    await sql`CREATE TABLE IF NOT EXISTS refusal_probe (v text NOT NULL CHECK (v <> 'bad'))`.execute(t.db);
    const items = Array.from({ length: 100 }, (_, i) => (i === 3 || i === 71 ? 'bad' : `v${i}`));
    const refused: string[] = [];
    const parts = await storeIsolatingRefused(
      items.map((v, i) => ({ v, i })),
      async (part) => (await sql`INSERT INTO refusal_probe SELECT unnest(${part.map((p) => p.v)}::text[])`.execute(t.db)).numAffectedRows,
      (item, err) => {
        expect(isDataError(err)).toBe(true);
        refused.push(`${item.i}`);
      },
    );
    expect(refused).toEqual(['3', '71']);
    expect(parts.reduce((a, n) => a + Number(n), 0)).toBe(98);
    expect((await sql<{ n: number }>`SELECT count(*)::int AS n FROM refusal_probe`.execute(t.db)).rows[0]!.n).toBe(98);
  });

  it('does not swallow an error that is not about a value', async () => {
    await expect(storeIsolatingRefused([1, 2], async () => sql`SELECT * FROM no_such_table`.execute(t.db), () => undefined)).rejects.toThrow(/no_such_table/);
  });
});
