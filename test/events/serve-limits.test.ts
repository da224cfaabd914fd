import { spawn } from 'node:child_process';
import { createServer, request, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signUnsubscribeToken, verifyUnsubscribeToken } from '../../src/campaigns/unsubscribe-token.js';
import { confirmSubscription, isSnsCertUrl } from '../../src/events/sns-verify.js';
import { createRequestHandler } from '../../src/serve/handle-request.js';
import { BIN, cleanEnv, REPO } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { publish } from '../fixtures/ses/records.js';
import { seedCampaign, seedDelivery, seedSubscriber, subscriberRow } from '../fixtures/ses/seed.js';
import { snsNotification, snsSigner, TOPIC_ARN, type SnsSigner } from '../fixtures/ses/sns-signing.js';

const SECRET = 'test-unsubscribe-secret-limits';
const API_TOKEN = 'api-token-limits';
// Small enough that the slow-body test need not wait the production 30 s.
const BODY_TIMEOUT_MS = 400;

let t: TestDb;
let server: Server;
let base: string;
let port: number;
let signer: SnsSigner;
const fetched: string[] = [];
let subscriber: string;

beforeAll(async () => {
  signer = snsSigner();
  t = await createTestDb();
  await seedCampaign(t.db, 42);
  subscriber = await seedSubscriber(t.db, 'ann@example.com');
  await seedDelivery(t.db, { campaignId: 42, subscriberId: subscriber, status: 'sent', messageId: 'msg-ann' });
  server = createServer(
    createRequestHandler({
      db: t.db,
      unsubscribeSecret: SECRET,
      apiToken: API_TOKEN,
      ingest: { softBounceLimit: 3 },
      fetchCert: async (url) => {
        fetched.push(url);
        return signer.cert;
      },
      // The production confirmation: it reaches SNS over https, which a test cannot make
      // succeed (no network, or SNS refusing a token it never issued).
      confirmSubscription: (url) => confirmSubscription(url, 2000),
      snsTopicArns: [TOPIC_ARN],
      log: () => undefined,
      bodyTimeoutMs: BODY_TIMEOUT_MS,
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await t?.close();
});

const post = (p: string, body: string | Buffer) => fetch(`${base}${p}`, { method: 'POST', body });

/** A POST through node:http with a chunked body (no Content-Length), as a streaming client sends it. */
function postChunked(p: string, size: number): Promise<{ status: number | undefined; body: string }> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: p }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    // Writing may fail once the server has answered and stopped reading: the answer is what counts.
    req.on('error', () => undefined);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let sent = 0; sent < size; sent += chunk.length) req.write(chunk);
    req.end();
  });
}

describe('serve: limits on every request', () => {
  it('answers a body over the limit with a 413 the client can read, declared or streamed, and keeps serving', async () => {
    const r = await post('/sns', Buffer.alloc(5 * 1024 * 1024, 0x61));
    expect(r.status).toBe(413);
    expect(await r.json()).toEqual({ error: 'request body larger than 300 KB' });
    const chunked = await postChunked('/sns', 2 * 1024 * 1024);
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body)).toEqual({ error: 'request body larger than 300 KB' });
    const token = signUnsubscribeToken(SECRET, { subscriberId: subscriber, campaignId: 42 });
    expect((await post(`/u/${token}`, Buffer.alloc(400 * 1024, 0x61))).status).toBe(413);
    expect((await subscriberRow(t.db, subscriber)).status).toBe('active');
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
  });

  it('times out a body that trickles in, with a 408 the client reads before the connection closes', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (d: string) => { text += d; });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
      socket.write('POST /sns HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n{"Type":');
      // …and the other 992 bytes never come.
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(answer).toMatch(/connection: close/i);
    expect(answer).toContain('request body not received within 0.4 s');
  });

  it('refuses a certificate URL on any host but sns.<region>.amazonaws.com, before fetching it', async () => {
    const record = publish.delivery({ messageId: 'msg-ann', to: 'ann@example.com', at: '2026-12-01T08:00:00.000Z' });
    const before = fetched.length;
    for (const host of ['sns.s3.amazonaws.com', 'sns.s3-eu-west-1.amazonaws.com', 'sns.s3.eu-west-1.amazonaws.com', 'sns.s3-website-us-east-1.amazonaws.com', 'sns.amazonaws.com', 'sns.us-east-1.amazonaws.com.evil.example']) {
      const body = signer.signed(snsNotification(`sns-${host}`, record), '1', `https://${host}/SimpleNotificationService-x.pem`);
      const r = await post('/sns', JSON.stringify(body));
      expect(r.status, host).toBe(403);
    }
    expect(fetched.length).toBe(before);
    for (const good of ['sns.us-east-1.amazonaws.com', 'sns.us-gov-west-1.amazonaws.com', 'sns.ap-southeast-2.amazonaws.com', 'sns.cn-north-1.amazonaws.com.cn']) {
      expect(isSnsCertUrl(`https://${good}/SimpleNotificationService-x.pem`), good).toBe(true);
    }
  });

  it('a signed notification carrying a poison record answers 200 and skips only that record', async () => {
    const m = { messageId: 'msg-ann', to: 'ann@example.com', at: '2026-12-01T08:00:00.000Z' };
    const poison = publish.bounce(m, 'Permanent', 'General');
    poison.bounce.bouncedRecipients[0]!.diagnosticCode = 'smtp; 550\u0000';
    let r = await post('/sns', JSON.stringify(signer.signed(snsNotification('sns-poison-nul', poison))));
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ ingested: 0, malformed: 1 });
    r = await post('/sns', JSON.stringify(signer.signed(snsNotification('sns-poison-time', { ...publish.open(m, 5), open: { timestamp: '1' } }))));
    expect(r.status).toBe(200);
    expect(await r.json()).toMatchObject({ ingested: 0, malformed: 1 });
    r = await post('/sns', JSON.stringify(signer.signed(snsNotification('sns-good', publish.open(m, 6)))));
    expect(await r.json()).toMatchObject({ ingested: 1, malformed: 0 });
    const n = await sql<{ n: number }>`SELECT count(*)::int AS n FROM email_events`.execute(t.db);
    expect(n.rows[0]!.n).toBe(1);
    expect((await subscriberRow(t.db, subscriber)).status).toBe('active');
  });

  it('a SubscriptionConfirmation that cannot be confirmed answers 4xx, not 500', async () => {
    const fields = {
      Type: 'SubscriptionConfirmation' as const,
      MessageId: 'sub-unconfirmable',
      TopicArn: TOPIC_ARN,
      Subject: undefined,
      Message: 'You have chosen to subscribe to the topic …',
      Timestamp: '2026-12-01T08:00:00.000Z',
      SubscribeURL: 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn&Token=never-issued',
      Token: 'never-issued',
    };
    const r = await post('/sns', JSON.stringify(signer.signed(fields)));
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: string }).error).toMatch(/^subscription not confirmed: /);
  });

  it('the stats API answers an out-of-range or impossible since with 400', async () => {
    const auth = { authorization: `Bearer ${API_TOKEN}` };
    for (const since of ['0000-01-01', '-010000-01-01T00:00:00Z', '1', '2026-02-30', '99999-01-01', '1969-12-31T23:59:59Z', '+275760-09-13']) {
      const r = await fetch(`${base}/api/campaigns/42/stats?since=${encodeURIComponent(since)}`, { headers: auth });
      expect(r.status, since).toBe(400);
    }
    expect((await fetch(`${base}/api/campaigns/42/stats?since=2026-11-30`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${base}/api/campaigns/42/stats?since=24h`, { headers: auth })).status).toBe(200);
  });
});

describe('serve: unsubscribe tokens and the confirmation page', () => {
  it('accepts one spelling per token: no base64 last-character variant, no zero-padded id', async () => {
    const token = signUnsubscribeToken(SECRET, { subscriberId: subscriber, campaignId: 42 });
    const [sub, campaign, mac] = token.split('.') as [string, string, string];
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const accepted = [...alphabet].map((c) => `${sub}.${campaign}.${mac.slice(0, -1)}${c}`).filter((v) => verifyUnsubscribeToken(SECRET, v));
    expect(accepted).toEqual([token]);
    const variant = `${sub}.${campaign}.${mac.slice(0, -1)}${alphabet[(alphabet.indexOf(mac.at(-1)!) ^ 1)]}`;
    expect(Buffer.from(variant.split('.')[2]!, 'base64url').equals(Buffer.from(mac, 'base64url'))).toBe(true);
    for (const bad of [variant, `${sub}.0${campaign}.${mac}`, `${sub}.00042.${mac}`, `0${sub}.${campaign}.${mac}`]) {
      expect((await fetch(`${base}/u/${bad}`)).status, bad).toBe(400);
      expect((await post(`/u/${bad}`, 'List-Unsubscribe=One-Click')).status, bad).toBe(400);
    }
    expect((await fetch(`${base}/u/${token}`)).status).toBe(200);
    expect((await subscriberRow(t.db, subscriber)).status).toBe('active');
  });

  it('the confirmation form posts to the page URL itself, so it works behind a path prefix', async () => {
    const token = signUnsubscribeToken(SECRET, { subscriberId: subscriber, campaignId: 42 });
    const html = await (await fetch(`${base}/u/${token}`)).text();
    const action = /<form method="post" action="([^"]+)">/.exec(html)?.[1];
    expect(action).toBeDefined();
    for (const page of [`https://example.com/mail/u/${token}`, `https://example.com/u/${token}`, `${base}/u/${token}`]) {
      expect(new URL(action!.replace(/&amp;/g, '&'), page).href).toBe(page);
    }
  });
});

describe('marketer serve binding', () => {
  it('listens on 127.0.0.1 unless --host says otherwise', async () => {
    const child = spawn(process.execPath, [BIN, 'serve', '--port', '0'], {
      cwd: REPO,
      env: cleanEnv({ DATABASE_URL: t.url, MARKETER_UNSUBSCRIBE_SECRET: SECRET }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const listening = await new Promise<{ host: string; port: number }>((resolve, reject) => {
        let err = '';
        child.stderr.on('data', (d: Buffer) => {
          err += d.toString();
          const m = /listening on http:\/\/([^\s:]+|\[[^\]]+\]):(\d+)/.exec(err);
          if (m) resolve({ host: m[1]!, port: Number(m[2]) });
        });
        child.once('exit', () => reject(new Error(`serve exited: ${err}`)));
      });
      expect(listening.host).toBe('127.0.0.1');
      expect((await fetch(`http://127.0.0.1:${listening.port}/healthz`)).status).toBe(200);
      // Where this machine has another address, nothing answers on it.
      const external = Object.values(networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal);
      if (external) await expect(fetch(`http://${external.address}:${listening.port}/healthz`)).rejects.toThrow();
    } finally {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
