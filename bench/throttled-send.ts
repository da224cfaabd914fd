/**
 * bench/throttled-send: `marketer send --now` of N mails at a configured rate through an SES
 * endpoint that answers a share of requests with 429 TooManyRequestsException and 500 at random,
 * whatever the rate; against the same send with no faults (the baseline, same run).
 *
 *   node --import tsx bench/throttled-send.ts [--rows 3000] [--rate 100] [--throttle 0.15] [--server-error 0.03]
 *
 * The goal: under 15% random 429s and 3% 500s a send keeps at least 40% of the configured rate.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import pg from 'pg';
import { freePort, startEmbedded } from '../src/db/embedded.js';
import { DATA_DIR, ROOT, argValue, freshDatabase, int, runMeasured, secs } from './lib.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const argv = process.argv.slice(2);
const ROWS = Number(argValue(argv, '--rows') ?? 3000);
const RATE = Number(argValue(argv, '--rate') ?? 100);
const THROTTLE = Number(argValue(argv, '--throttle') ?? 0.15);
const SERVER_ERROR = Number(argValue(argv, '--server-error') ?? 0.03);
const PG_DIR = path.join(DATA_DIR, `throttled-pg-${process.pid}`);

/** A proxy in front of the emulator that refuses SendEmail calls at random. */
async function faultyProxy(target: string): Promise<{ endpoint: string; faults: { on: boolean }; counts: { throttled: number; serverError: number; forwarded: number }; close(): void }> {
  const faults = { on: false };
  const counts = { throttled: 0, serverError: 0, forwarded: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const isSend = req.method === 'POST' && req.url === '/v2/email/outbound-emails';
      const r = Math.random();
      if (isSend && faults.on && r < THROTTLE) {
        counts.throttled += 1;
        res.writeHead(429, { 'content-type': 'application/json', 'x-amzn-errortype': 'TooManyRequestsException' });
        return res.end(JSON.stringify({ message: 'Maximum sending rate exceeded.' }));
      }
      if (isSend && faults.on && r < THROTTLE + SERVER_ERROR) {
        counts.serverError += 1;
        res.writeHead(500, { 'content-type': 'application/json', 'x-amzn-errortype': 'InternalFailure' });
        return res.end(JSON.stringify({ message: 'Internal failure' }));
      }
      if (isSend) counts.forwarded += 1;
      const up = http.request(`${target}${req.url}`, { method: req.method, headers: req.headers }, (u) => {
        res.writeHead(u.statusCode ?? 502, u.headers);
        u.pipe(res);
      });
      up.on('error', () => { res.writeHead(502); res.end(); });
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, faults, counts, close: () => { server.closeAllConnections(); server.close(); } };
}

async function main(): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  const server = await startEmbedded({ dataDir: PG_DIR, port: await freePort(), database: 'postgres', settings: { fsync: 'off', synchronous_commit: 'off' } });
  const port = await freePort();
  const emulator: ChildProcess = spawn(process.execPath, [createRequire(import.meta.url).resolve('aws-ses-v2-local/dist/cli.js'), '--host', '127.0.0.1', '--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => emulator.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('server running')) resolve(); }));
  const proxy = await faultyProxy(`http://127.0.0.1:${port}`);
  try {
    const run = async (name: string) => {
      const url = await freshDatabase(server.url, name);
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`INSERT INTO subscribers (email, timezone, tags) SELECT 'user' || i || '@example.com', 'UTC', '{newsletter}' FROM generate_series(1, $1) i`, [ROWS]);
      const env = {
        ...process.env, AWS_ACCESS_KEY_ID: 'AKIDBENCH', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1', DATABASE_URL: url,
        MARKETER_TRANSPORT: 'ses', MARKETER_SES_ENDPOINT: proxy.endpoint, MARKETER_UNSUBSCRIBE_SECRET: 'bench-secret',
        MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u', MARKETER_RATE: String(RATE),
      };
      const r = await runMeasured(['send', 'campaigns/weekly.yaml', '--now', '--json', '-q'], { cwd: ROOT, env });
      if (r.code !== 0) throw new Error(`send failed (${r.code}): ${r.stderr}`);
      const doc = JSON.parse(r.stdout.slice(r.stdout.indexOf('{'))) as { sent: number; this_run: { throttled: number; retries: number; rate: number } };
      const span = await c.query<{ first: Date; last: Date }>('SELECT min(sent_at) AS first, max(sent_at) AS last FROM deliveries');
      await c.end();
      const ms = span.rows[0]!.last.getTime() - span.rows[0]!.first.getTime();
      return { ...doc, perSecond: doc.sent / (ms / 1000), ms };
    };
    console.log(`${int(ROWS)} mails, rate ${RATE}/s, through aws-ses-v2-local behind a proxy\n`);
    const clean = await run('throttled_baseline');
    console.log(`no faults (baseline)        ${clean.perSecond.toFixed(1)}/s (${int(clean.sent)} sent in ${secs(clean.ms)})`);
    proxy.faults.on = true;
    const noisy = await run('throttled_noisy');
    const share = noisy.perSecond / RATE;
    console.log(`${Math.round(THROTTLE * 100)}% 429 + ${Math.round(SERVER_ERROR * 100)}% 500 at random   ${noisy.perSecond.toFixed(1)}/s (${int(noisy.sent)} sent in ${secs(noisy.ms)}; ${int(noisy.this_run.throttled)} throttled, ${int(noisy.this_run.retries)} retries, limiter ended at ${noisy.this_run.rate}/s)`);
    console.log(`  share of the configured rate  ${(share * 100).toFixed(0)}% (goal >= 40%: ${share >= 0.4 ? 'met' : 'MISSED'}); of the baseline ${((noisy.perSecond / clean.perSecond) * 100).toFixed(0)}%`);
  } finally {
    proxy.close();
    emulator.kill();
    await server.stop();
    rmSync(PG_DIR, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
