import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUnsubscribeToken } from '../../src/campaigns/unsubscribe-token.js';
import { isSnsCertUrl } from '../../src/events/sns-verify.js';
import { createRequestHandler } from '../../src/serve/handle-request.js';
import { BIN, cleanEnv, REPO } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { publish } from '../fixtures/ses/records.js';
import { CERT_URL, snsNotification as notification, snsSigner, type SnsSigner } from '../fixtures/ses/sns-signing.js';
import { deliveryRow, seedCampaign, seedDelivery, seedSubscriber, subscriberRow, suppressionReason } from '../fixtures/ses/seed.js';

const SECRET = 'test-unsubscribe-secret-0123456789';
const API_TOKEN = 'api-token-abcdef';

let t: TestDb;
let server: Server;
let base: string;
let signer: SnsSigner;
const fetched: string[] = [];
const confirmed: string[] = [];
const logs: string[] = [];
let annId: string;
let annDelivery: string;
let bobQueued: string;

beforeAll(async () => {
  signer = snsSigner();

  t = await createTestDb();
  await seedCampaign(t.db, 42);
  await seedCampaign(t.db, 43);
  annId = await seedSubscriber(t.db, 'ann@example.com');
  annDelivery = await seedDelivery(t.db, { campaignId: 42, subscriberId: annId, status: 'sent', messageId: 'msg-ann' });
  bobQueued = await seedDelivery(t.db, { campaignId: 43, subscriberId: annId, status: 'queued' });

  server = createServer(
    createRequestHandler({
      db: t.db,
      unsubscribeSecret: SECRET,
      apiToken: API_TOKEN,
      ingest: { softBounceLimit: 3 },
      // The production fetcher only reaches https://sns.<region>.amazonaws.com; this one hands out our cert.
      fetchCert: async (url) => {
        fetched.push(url);
        return signer.cert;
      },
      confirmSubscription: async (url) => {
        confirmed.push(url);
      },
      snsTopicArns: ['arn:aws:sns:us-east-1:123456789012:ses-events'],
      log: (l) => logs.push(l),
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await t?.close();
});

const signed: SnsSigner['signed'] = (fields, version) => signer.signed(fields, version);

const post = (p: string, body: string, headers: Record<string, string> = {}) => fetch(`${base}${p}`, { method: 'POST', body, headers, redirect: 'manual' });

describe('marketer serve', () => {
  it('one-click unsubscribe: GET shows a button and changes nothing; POST unsubscribes', async () => {
    const token = signUnsubscribeToken(SECRET, { subscriberId: annId, campaignId: 42 });
    const page = await fetch(`${base}/u/${token}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(`<form method="post" action="./${token}">`);
    expect((await subscriberRow(t.db, annId)).status).toBe('active');

    const r = await post(`/u/${token}`, 'List-Unsubscribe=One-Click', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(r.status).toBe(200);
    expect(r.headers.get('location')).toBeNull();
    expect(r.headers.get('set-cookie')).toBeNull();
    expect((await subscriberRow(t.db, annId)).status).toBe('unsubscribed');
    expect(await suppressionReason(t.db, 'ann@example.com')).toBe('unsubscribed');
    expect((await deliveryRow(t.db, annDelivery)).unsubscribed_at).not.toBeNull();
    expect(await deliveryRow(t.db, bobQueued)).toMatchObject({ status: 'skipped', error: 'suppressed' });
    // Tokens never reach the log.
    expect(logs.join('\n')).not.toContain(token);
  });

  it('refuses tampered and forged tokens', async () => {
    const other = await seedSubscriber(t.db, 'cat@example.com');
    const token = signUnsubscribeToken(SECRET, { subscriberId: other, campaignId: 42 });
    // Same MAC, someone else's id; and a token signed with another secret.
    const swapped = token.replace(/^\d+/, annId);
    const forged = signUnsubscribeToken('not-our-secret', { subscriberId: other, campaignId: 42 });
    for (const bad of [swapped, forged, 'garbage', `${token}x`]) {
      expect((await post(`/u/${bad}`, 'List-Unsubscribe=One-Click')).status).toBe(400);
      expect((await fetch(`${base}/u/${bad}`)).status).toBe(400);
    }
    expect((await subscriberRow(t.db, other)).status).toBe('active');
  });

  it('accepts a signed SNS notification (SignatureVersion 1 and 2) and ingests it once', async () => {
    const cat = await seedSubscriber(t.db, 'dan@example.com');
    const d = await seedDelivery(t.db, { campaignId: 42, subscriberId: cat, status: 'sent', messageId: 'msg-dan' });
    const m = { messageId: 'msg-dan', to: 'dan@example.com', at: '2026-12-01T08:00:00.000Z', deliveryId: d, campaignId: 42 };
    const v1 = signed(notification('sns-1', publish.delivery(m)), '1');
    const first = await post('/sns', JSON.stringify(v1), { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': 'Notification' });
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ ingested: 1, duplicates: 0 });
    // SNS retries deliver the same MessageId: stored once.
    const again = await post('/sns', JSON.stringify(v1));
    expect(await again.json()).toMatchObject({ ingested: 0, duplicates: 1 });
    const v2 = signed(notification('sns-2', publish.open(m, 60)), '2');
    expect((await post('/sns', JSON.stringify(v2))).status).toBe(200);
    const row = await deliveryRow(t.db, d);
    expect(row.delivered_at).not.toBeNull();
    expect(row.opened_at).not.toBeNull();
    const keys = await sql<{ dedupe_key: string }>`SELECT dedupe_key FROM email_events ORDER BY dedupe_key`.execute(t.db);
    expect(keys.rows.map((r) => r.dedupe_key)).toEqual(['sns:sns-1', 'sns:sns-2']);
    expect(fetched.every((u) => u === CERT_URL)).toBe(true);
  });

  it('rejects forged SNS messages: altered, wrong key, or a certificate from elsewhere', async () => {
    const record = publish.complaint({ messageId: 'msg-ann', to: 'ann@example.com', at: '2026-12-01T08:00:00.000Z' });
    const good = signed(notification('sns-forged', record));
    const altered = { ...good, Message: JSON.stringify({ ...record, eventType: 'Bounce' }) };
    const elsewhere = { ...good, SigningCertURL: 'https://evil.example.com/SimpleNotificationService-test.pem' };
    const lookalike = { ...good, SigningCertURL: 'https://sns.us-east-1.amazonaws.com.evil.example/cert.pem' };
    const unsigned = { ...good, Signature: Buffer.from('nope').toString('base64') };
    const before = fetched.length;
    for (const bad of [altered, elsewhere, lookalike, unsigned]) {
      const r = await post('/sns', JSON.stringify(bad));
      expect(r.status).toBe(403);
    }
    // The certificate is only ever fetched from SNS's own host.
    expect(fetched.slice(before).every((u) => u === CERT_URL)).toBe(true);
    const n = await sql<{ n: number }>`SELECT count(*)::int AS n FROM email_events WHERE dedupe_key = 'sns:sns-forged'`.execute(t.db);
    expect(n.rows[0]!.n).toBe(0);
    expect((await post('/sns', 'not json')).status).toBe(400);
  });

  it('confirms an SNS subscription only when signed', async () => {
    const fields = {
      Type: 'SubscriptionConfirmation' as const,
      MessageId: 'sub-1',
      TopicArn: 'arn:aws:sns:us-east-1:123456789012:ses-events',
      Subject: undefined,
      Message: 'You have chosen to subscribe to the topic …',
      Timestamp: '2026-12-01T08:00:00.000Z',
      SubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn&Token=abc',
      Token: 'abc',
    };
    const forged = { ...signed(fields), SubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=evil' };
    expect((await post('/sns', JSON.stringify(forged))).status).toBe(403);
    expect(confirmed).toEqual([]);
    // Genuinely signed by SNS, but for someone else's topic: not confirmed, nothing stored.
    const foreign = { ...fields, MessageId: 'sub-2', TopicArn: 'arn:aws:sns:us-east-1:999999999999:attacker' };
    expect((await post('/sns', JSON.stringify(signed(foreign)))).status).toBe(403);
    expect(confirmed).toEqual([]);
    expect((await post('/sns', JSON.stringify(signed(fields)))).status).toBe(200);
    expect(confirmed).toEqual([fields.SubscribeURL]);
  });

  it('answers a malformed token with 400', async () => {
    expect((await fetch(`${base}/u/%E0`)).status).toBe(400);
  });

  it('serves stats only with the bearer token', async () => {
    const url = `${base}/api/campaigns/42/stats?tz=Europe/Berlin`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: `Bearer ${API_TOKEN}x` } })).status).toBe(401);
    const ok = await fetch(url, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(ok.status).toBe(200);
    const doc = (await ok.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({ campaign: 42, timezone: 'Europe/Berlin', unsubscribed: 1, delivered: 1, opens: { unique: 1, total: 1 } });
    expect((await fetch(`${base}/api/campaigns/999/stats`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).status).toBe(404);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/nowhere`)).status).toBe(404);
  });

  it('the production certificate check accepts only SNS hosts', () => {
    expect(isSnsCertUrl('https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem')).toBe(true);
    expect(isSnsCertUrl('http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem')).toBe(false);
    expect(isSnsCertUrl('https://sns.eu-west-1.amazonaws.com.evil.io/x.pem')).toBe(false);
    expect(isSnsCertUrl('https://s3.amazonaws.com/sns/x.pem')).toBe(false);
    expect(isSnsCertUrl('https://sns.eu-west-1.amazonaws.com/x.txt')).toBe(false);
  });

  it('marketer serve runs as a command, with the API off when no token is set', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--host', '127.0.0.1'], {
      cwd: REPO,
      env: cleanEnv({ DATABASE_URL: t.url, MARKETER_UNSUBSCRIBE_SECRET: SECRET }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const port = await new Promise<number>((resolve, reject) => {
        let err = '';
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(err);
          if (m) resolve(Number(m[1]));
        });
        child.once('exit', () => reject(new Error(`serve exited: ${err}`)));
      });
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/api/campaigns/42/stats`, { headers: { authorization: 'Bearer anything' } })).status).toBe(404);
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    expect(child.exitCode).toBe(0);
  });
});
