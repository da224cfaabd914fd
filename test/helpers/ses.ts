import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll } from 'vitest';
import { freePort } from '../../src/db/embedded.js';
import { createTestDb, type TestDb } from './db.js';

const require = createRequire(import.meta.url);

export interface StoredEmail {
  messageId: string;
  from: string;
  replyTo: string[];
  destination: { to: string[]; cc: string[]; bcc: string[] };
  subject: string;
  body: { html?: string; text?: string };
  headers?: { name: string; value: string }[];
  at: number;
}

/** A real aws-ses-v2-local server in a child process (its store is per process). */
export interface SesEmulator {
  endpoint: string;
  store(): Promise<StoredEmail[]>;
  clear(): Promise<void>;
  stop(): Promise<void>;
}

const ACCOUNT = {
  DedicatedIpAutoWarmupEnabled: false,
  Details: { AdditionalContactEmailAddresses: [], ContactLanguage: 'EN', MailType: 'MARKETING', ReviewDetails: { CaseId: '1', Status: 'GRANTED' }, UseCaseDescription: 'newsletter', WebsiteURL: 'https://example.com' },
  EnforcementStatus: 'HEALTHY',
  ProductionAccessEnabled: true,
  SendingEnabled: true,
  SendQuota: { Max24HourSend: 50000, MaxSendRate: 200, SentLast24Hours: 120 },
  SuppressionAttributes: { SuppressedReasons: [] },
};

export async function startSesEmulator(account: object = ACCOUNT): Promise<SesEmulator> {
  const port = await freePort();
  const cli = require.resolve('aws-ses-v2-local/dist/cli.js');
  const child: ChildProcess = spawn(process.execPath, [cli, '--host', '127.0.0.1', '--port', String(port)], {
    env: { ...process.env, AWS_SES_ACCOUNT: JSON.stringify(account) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    // A loaded CI machine can take a while to start node; a child that never came up is killed,
    // not left behind.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('aws-ses-v2-local did not start within 60 s'));
    }, 60_000);
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('server running')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => reject(new Error(`aws-ses-v2-local exited with ${code}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    async store() {
      const res = await fetch(`${endpoint}/store`);
      return ((await res.json()) as { emails: StoredEmail[] }).emails;
    },
    async clear() {
      await fetch(`${endpoint}/clear-store`, { method: 'POST' });
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

export interface SendEmailRequest {
  FromEmailAddress: string;
  ReplyToAddresses?: string[];
  Destination: { ToAddresses: string[] };
  EmailTags?: { Name: string; Value: string }[];
  ConfigurationSetName?: string;
  Content: { Simple?: { Headers?: { Name: string; Value: string }[]; Subject: { Data: string } } };
}

export interface FaultPlan {
  /** Share of SendEmail calls answered 429 TooManyRequestsException before reaching SES. */
  throttle?: number;
  /** The next this many SendEmail calls are answered 429 (SES refusing a burst). */
  throttleFirst?: number;
  /** Share answered 500 InternalFailure before reaching SES. */
  serverError?: number;
  /** Like SES's MaxSendRate: calls beyond this many in the last second are answered 429. */
  maxPerSecond?: number;
  /** Answer every SendEmail with HTTP 400 and this error type (e.g. SendingPausedException). */
  rejectAll?: string;
  /** Forward to SES but never answer (the outcome is unknown to the sender). */
  hangAfterForward?: boolean;
  /** Refuse the first `times` SendEmail calls to this recipient with 429 or 500, then let them through. */
  refuseRecipient?: { to: string; status: 429 | 500; times: number };
}

/**
 * An HTTP proxy in front of the emulator that records every SendEmail request body (the
 * emulator drops EmailTags) and can answer some with the errors SES gives under load.
 */
export interface SesProxy {
  endpoint: string;
  requests: SendEmailRequest[];
  answered: { throttled: number; serverError: number; forwarded: number };
  /** Arrival times (ms) of forwarded SendEmail calls. */
  forwardedAt: number[];
  faults: FaultPlan;
  stop(): Promise<void>;
}

export async function startSesProxy(target: string, faults: FaultPlan = {}, random: () => number = Math.random): Promise<SesProxy> {
  const proxy: SesProxy = { endpoint: '', requests: [], answered: { throttled: 0, serverError: 0, forwarded: 0 }, forwardedAt: [], faults, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const isSend = req.method === 'POST' && req.url === '/v2/email/outbound-emails';
      if (isSend) {
        if (proxy.faults.rejectAll) {
          res.writeHead(400, { 'content-type': 'application/json', 'x-amzn-errortype': proxy.faults.rejectAll });
          res.end(JSON.stringify({ message: `${proxy.faults.rejectAll} (injected)` }));
          return;
        }
        const refuse = proxy.faults.refuseRecipient;
        if (refuse && refuse.times > 0 && (JSON.parse(body.toString()) as SendEmailRequest).Destination.ToAddresses.includes(refuse.to)) {
          refuse.times -= 1;
          if (refuse.status === 429) proxy.answered.throttled += 1;
          else proxy.answered.serverError += 1;
          res.writeHead(refuse.status, { 'content-type': 'application/json', 'x-amzn-errortype': refuse.status === 429 ? 'TooManyRequestsException' : 'InternalFailure' });
          res.end(JSON.stringify({ message: refuse.status === 429 ? 'Maximum sending rate exceeded.' : 'Internal failure' }));
          return;
        }
        const r = random();
        const now = performance.now();
        const recent = proxy.forwardedAt.length - lowerBound(proxy.forwardedAt, now - 1000);
        const burst = (proxy.faults.throttleFirst ?? 0) > 0;
        if (burst) proxy.faults.throttleFirst! -= 1;
        if (burst || r < (proxy.faults.throttle ?? 0) || (proxy.faults.maxPerSecond !== undefined && recent >= proxy.faults.maxPerSecond)) {
          proxy.answered.throttled += 1;
          res.writeHead(429, { 'content-type': 'application/json', 'x-amzn-errortype': 'TooManyRequestsException' });
          res.end(JSON.stringify({ message: 'Maximum sending rate exceeded.' }));
          return;
        }
        if (r < (proxy.faults.throttle ?? 0) + (proxy.faults.serverError ?? 0)) {
          proxy.answered.serverError += 1;
          res.writeHead(500, { 'content-type': 'application/json', 'x-amzn-errortype': 'InternalFailure' });
          res.end(JSON.stringify({ message: 'Internal failure' }));
          return;
        }
        proxy.requests.push(JSON.parse(body.toString()) as SendEmailRequest);
        proxy.answered.forwarded += 1;
        proxy.forwardedAt.push(performance.now());
      }
      const upstream = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (up) => {
        if (isSend && proxy.faults.hangAfterForward) {
          up.resume();
          return;
        }
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.stop = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return proxy;
}

/** Environment for the CLI to send through a local SES endpoint. */
export function sesEnv(endpoint: string): Record<string, string> {
  return {
    MARKETER_TRANSPORT: 'ses',
    MARKETER_SES_ENDPOINT: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDLOCAL',
    AWS_SECRET_ACCESS_KEY: 'local-secret',
    MARKETER_UNSUBSCRIBE_SECRET: 'test-unsubscribe-secret',
    MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u',
  };
}

/** A small deterministic generator (mulberry32) of numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Index of the first element >= x in a sorted array. */
function lowerBound(sorted: number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface SendingStack {
  t: TestDb;
  ses: SesEmulator;
  proxy: SesProxy;
}

/**
 * A test file's own database, SES emulator and fault-injecting proxy in front of it, started
 * before its tests and stopped after them. Read the fields inside tests, not at import time.
 */
export function useSendingStack(faults: FaultPlan = {}): SendingStack {
  const stack = {} as SendingStack;
  beforeAll(async () => {
    stack.t = await createTestDb();
    stack.ses = await startSesEmulator();
    // Seeded, so a share of injected faults is the same share on every run.
    stack.proxy = await startSesProxy(stack.ses.endpoint, faults, seededRandom(9));
  });
  afterAll(async () => {
    await stack.proxy?.stop();
    await stack.ses?.stop();
    await stack.t?.close();
  });
  return stack;
}
