import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { BIN, cleanEnv, REPO, runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { publish, snsEnvelope, type MailOptions } from '../fixtures/ses/records.js';
import { deliveryRow, seedCampaign, seedDelivery, seedSubscriber } from '../fixtures/ses/seed.js';

/**
 * A queue speaking the SQS JSON protocol (the one @aws-sdk/client-sqs uses), just enough for
 * ReceiveMessage and DeleteMessageBatch. On every delete it checks that the message's event is
 * already committed: deleting before the commit would lose events on a crash.
 */
interface QueuedMessage { id: string; body: string; receipt: string | undefined; deleted: boolean; dedupeKey: string | undefined }

let t: TestDb;
let server: Server;
let queueUrl: string;
let queue: QueuedMessage[] = [];
const deletedBeforeCommit: string[] = [];
let m: MailOptions;
let delivery: string;

beforeAll(async () => {
  t = await createTestDb();
  await seedCampaign(t.db, 42);
  const s = await seedSubscriber(t.db, 'ann@example.com');
  delivery = await seedDelivery(t.db, { campaignId: 42, subscriberId: s, status: 'sent', messageId: 'msg-ann' });
  m = { messageId: 'msg-ann', to: 'ann@example.com', at: '2026-12-01T08:00:00.000Z', deliveryId: delivery, campaignId: 42 };
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => { text += d.toString(); });
    req.on('end', () => {
      void (async () => {
        const target = String(req.headers['x-amz-target'] ?? '');
        const body = JSON.parse(text || '{}') as { MaxNumberOfMessages?: number; Entries?: { Id: string; ReceiptHandle: string }[] };
        let out: unknown;
        if (target.endsWith('.ReceiveMessage')) {
          const ready = queue.filter((q) => !q.deleted && q.receipt === undefined).slice(0, body.MaxNumberOfMessages ?? 1);
          for (const q of ready) q.receipt = `r-${q.id}-${Math.random()}`;
          out = { Messages: ready.map((q) => ({ MessageId: q.id, ReceiptHandle: q.receipt, MD5OfBody: createHash('md5').update(q.body).digest('hex'), Body: q.body })) };
        } else if (target.endsWith('.DeleteMessageBatch')) {
          for (const e of body.Entries ?? []) {
            const q = queue.find((x) => x.receipt === e.ReceiptHandle);
            if (!q) continue;
            if (q.dedupeKey) {
              const r = await sql<{ n: number }>`SELECT count(*)::int AS n FROM email_events WHERE dedupe_key = ${q.dedupeKey}`.execute(t.db);
              if (r.rows[0]!.n === 0) deletedBeforeCommit.push(q.id);
            }
            q.deleted = true;
          }
          out = { Successful: (body.Entries ?? []).map((e) => ({ Id: e.Id })), Failed: [] };
        } else if (target.endsWith('.GetQueueAttributes')) {
          out = { Attributes: { ApproximateNumberOfMessages: String(queue.filter((q) => !q.deleted && q.receipt === undefined).length) } };
        } else {
          res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0' });
          res.end(JSON.stringify({ __type: 'com.amazonaws.sqs#InvalidAction', message: target }));
          return;
        }
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify(out));
      })();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  queueUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/123456789012/ses-events`;
});

afterAll(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await t?.close();
});

// The SDK's notice about Node 22 is not ours to test.
const env = () => ({ DATABASE_URL: t.url, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test', AWS_REGION: 'us-east-1', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' });

function enqueue(id: string, body: string, dedupeKey?: string) {
  queue.push({ id, body, receipt: undefined, deleted: false, dedupeKey });
}

describe('marketer events pull', () => {
  it('stores envelopes and raw records, deletes each message only after its rows are committed', async () => {
    queue = [];
    // 23 opens in SNS envelopes (more than one receive of 10), one raw Delivery, one repeat, one junk body.
    for (let i = 0; i < 23; i++) enqueue(`q${i}`, JSON.stringify(snsEnvelope(publish.open(m, 60 + i), `sns-open-${i}`)), `sns:sns-open-${i}`);
    enqueue('raw', JSON.stringify(publish.delivery(m)));
    enqueue('again', JSON.stringify(snsEnvelope(publish.open(m, 60), 'sns-open-0')), 'sns:sns-open-0');
    enqueue('junk', 'this is not json');
    const r = await runCli(['events', 'pull', '--queue-url', queueUrl, '--wait-seconds', '0', '--json'], { env: env() });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ingested: 24, duplicates: 1, unmatched: 0, malformed: 1, problems: [{ position: 'sqs message junk', reason: 'body is not JSON' }] });
    expect(queue.filter((q) => !q.deleted)).toEqual([]);
    expect(deletedBeforeCommit).toEqual([]);
    const d = await deliveryRow(t.db, delivery);
    expect(d.opened_at?.toISOString()).toBe('2026-12-01T08:01:00.000Z');
    expect(d.delivered_at).not.toBeNull();
  });

  it('shows messages pulled out of what the queue held, and the events stored', async () => {
    queue = [];
    for (let i = 0; i < 250; i++) enqueue(`pr${i}`, JSON.stringify(snsEnvelope(publish.open(m, 2000 + i), `sns-progress-${i}`)), `sns:sns-progress-${i}`);
    const r = await runCli(['events', 'pull', '--queue-url', queueUrl, '--wait-seconds', '0'], { env: { ...env(), MARKETER_PROGRESS_SECONDS: '0' } });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('Pulling events '));
    expect(lines.length, r.stderr).toBeGreaterThan(1);
    expect(lines[0]).toMatch(/^Pulling events 100\/~250 messages \(40\.0%\) · 100 events stored$/);
    expect(lines.at(-1)).toMatch(/^Pulling events 250\/~250 messages \(100\.0%\)( · [\d.,]+\/s · ETA 0s)? · 250 events stored$/);
  });

  it('a message that cannot be stored is counted and deleted; its batch neighbours are stored and deleted too', async () => {
    queue = [];
    const poison = publish.bounce(m, 'Permanent', 'General');
    poison.bounce.bouncedRecipients[0]!.diagnosticCode = 'smtp; 550\u0000';
    enqueue('p-good-1', JSON.stringify(snsEnvelope(publish.open(m, 500), 'sns-p-1')), 'sns:sns-p-1');
    enqueue('p-nul', JSON.stringify(snsEnvelope(poison, 'sns-p-nul')));
    enqueue('p-time', JSON.stringify(snsEnvelope({ ...publish.open(m, 501), open: { timestamp: '1' } }, 'sns-p-time')));
    enqueue('p-junk', '{"Type":"Notification","Message":"{oops","TopicArn":"arn:aws:sns:us-east-1:123456789012:ses-events"}');
    enqueue('p-good-2', JSON.stringify(snsEnvelope(publish.open(m, 502), 'sns-p-2')), 'sns:sns-p-2');
    const r = await runCli(['events', 'pull', '--queue-url', queueUrl, '--wait-seconds', '0', '--json'], { env: env() });
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout) as { ingested: number; malformed: number; problems: { position: string; reason: string }[] };
    expect(doc).toMatchObject({ ingested: 2, malformed: 3 });
    expect(doc.problems.map((p) => p.position).sort()).toEqual(['sqs message p-junk', 'sqs message p-nul', 'sqs message p-time']);
    expect(queue.filter((q) => !q.deleted)).toEqual([]);
    expect(deletedBeforeCommit).toEqual([]);
  });

  it('--max stops after that many messages and leaves the rest queued', async () => {
    queue = [];
    for (let i = 0; i < 15; i++) enqueue(`c${i}`, JSON.stringify(snsEnvelope(publish.click(m, 100 + i, 'https://example.com/x'), `sns-click-${i}`)), `sns:sns-click-${i}`);
    const r = await runCli(['events', 'pull', '--queue-url', queueUrl, '--wait-seconds', '0', '--max', '12', '--json'], { env: env() });
    expect(JSON.parse(r.stdout)).toMatchObject({ ingested: 12 });
    expect(queue.filter((q) => !q.deleted).map((q) => q.id)).toEqual(['c12', 'c13', 'c14']);
  });

  it('says where to set the queue when none is given', async () => {
    const r = await runCli(['events', 'pull'], { env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--queue-url.*sqs_queue_url/);
  });

  it('--follow keeps polling an empty queue; Ctrl-C ends it cleanly with the totals', async () => {
    queue = [];
    for (let i = 0; i < 5; i++) enqueue(`f${i}`, JSON.stringify(snsEnvelope(publish.open(m, 900 + i), `sns-follow-${i}`)), `sns:sns-follow-${i}`);
    const child = spawn(process.execPath, [BIN, 'events', 'pull', '--queue-url', queueUrl, '--wait-seconds', '1', '--follow', '--json'], {
      cwd: REPO,
      env: cleanEnv(env()),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    // Drained, then more arrives while it follows.
    for (let i = 0; i < 100 && queue.some((q) => !q.deleted); i++) await new Promise((r) => setTimeout(r, 100));
    enqueue('late', JSON.stringify(snsEnvelope(publish.open(m, 999), 'sns-follow-late')), 'sns:sns-follow-late');
    for (let i = 0; i < 100 && queue.some((q) => !q.deleted); i++) await new Promise((r) => setTimeout(r, 100));
    expect(queue.filter((q) => !q.deleted)).toEqual([]);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ ingested: 6, duplicates: 0 });
    expect(deletedBeforeCommit).toEqual([]);
  });
});
