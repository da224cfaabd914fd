/**
 * bench/fleet-rate: several `marketer dispatch` workers against one Postgres share one rate.
 *
 *   node --import tsx bench/fleet-rate.ts [--rows 1200] [--workers 4] [--latency-ms 40]
 *
 * 1. Rate-limited: an SES endpoint (aws-ses-v2-local) whose account reports MaxSendRate 50 and
 *    no `rate` set, so each worker derives 80% of it, 40/s. One worker alone is the baseline;
 *    then N workers at once must still send about 40/s together (before the shared budget,
 *    each took 40/s for itself: N × 40).
 * 2. Endpoint-limited: a stub endpoint that answers after --latency-ms, concurrency 2 per worker
 *    and a rate far above what it can answer; 1, 2 and N workers show how throughput scales when
 *    the rate is not the limit.
 *
 * Rates are measured from the ledger (first to last sent_at of the run).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import pg from 'pg';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { loadCampaign } from '../src/campaigns/index.js';
import { loadConfig } from '../src/config/config.js';
import { addressHashKeys, sessionOptions } from '../src/db/address-hash.js';
import { freePort, startEmbedded } from '../src/db/embedded.js';
import type { Database } from '../src/db/types.js';
import { enqueueDeliveries, recordCampaign } from '../src/sending/enqueue.js';
import { DATA_DIR, ROOT, argValue, benchDb, freshDatabase, int, runMeasured } from './lib.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const argv = process.argv.slice(2);
const ROWS = Number(argValue(argv, '--rows') ?? 1200);
const WORKERS = Number(argValue(argv, '--workers') ?? 4);
const LATENCY_MS = Number(argValue(argv, '--latency-ms') ?? 40);
const PG_DIR = path.join(DATA_DIR, `fleet-pg-${process.pid}`);
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIDBENCH', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1' };
// The emulator answers GetAccount with this document; it needs every field.
const ACCOUNT = {
  DedicatedIpAutoWarmupEnabled: false,
  Details: { AdditionalContactEmailAddresses: [], ContactLanguage: 'EN', MailType: 'MARKETING', ReviewDetails: { CaseId: '1', Status: 'GRANTED' }, UseCaseDescription: 'newsletter', WebsiteURL: 'https://example.com' },
  EnforcementStatus: 'HEALTHY', ProductionAccessEnabled: true, SendingEnabled: true,
  SendQuota: { Max24HourSend: 1_000_000, MaxSendRate: 50, SentLast24Hours: 0 },
  SuppressionAttributes: { SuppressedReasons: [] },
};

// A SendEmail endpoint that answers after a fixed delay and stores nothing.
const SLOW_STUB = `
const http = require('node:http');
let n = 0;
const delay = Number(process.argv[2]);
http.createServer((req, res) => {
  req.resume();
  req.on('end', () => setTimeout(() => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ MessageId: 'stub-' + (++n) }));
  }, delay));
}).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('server running'));
`;

async function startEndpoint(kind: 'emulator' | 'stub'): Promise<{ endpoint: string; child: ChildProcess }> {
  const port = await freePort();
  const child = kind === 'stub'
    ? spawn(process.execPath, ['-e', SLOW_STUB, String(port), String(LATENCY_MS)], { stdio: ['ignore', 'pipe', 'inherit'] })
    : spawn(process.execPath, [createRequire(import.meta.url).resolve('aws-ses-v2-local/dist/cli.js'), '--host', '127.0.0.1', '--port', String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, AWS_SES_ACCOUNT: JSON.stringify(ACCOUNT) },
    });
  await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('server running')) resolve(); }));
  return { endpoint: `http://127.0.0.1:${port}`, child };
}

/** Enqueue ROWS deliveries due now in a fresh database; returns its URL. */
async function prepare(adminUrl: string, name: string, env: NodeJS.ProcessEnv): Promise<string> {
  const url = await freshDatabase(adminUrl, name);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`INSERT INTO subscribers (email, first_name, timezone, tags)
    SELECT 'user' || i || '@example.com', 'User' || i, 'UTC', '{newsletter}' FROM generate_series(1, $1) i`, [ROWS]);
  await c.end();
  const config = loadConfig({ cwd: ROOT, env: { ...env, DATABASE_URL: url } });
  const campaign = await loadCampaign(path.join(ROOT, 'campaigns/weekly.yaml'), config);
  campaign.schedule = { ...campaign.schedule, at: undefined };
  const db = benchDb(url, { options: sessionOptions(addressHashKeys(config)) });
  await recordCampaign(db, campaign);
  await enqueueDeliveries(db, campaign, new Date());
  await db.destroy();
  return url;
}

/** N dispatchers at once; the fleet's rate from the ledger. */
async function fleet(url: string, n: number, env: NodeJS.ProcessEnv): Promise<{ sent: number; perSecond: number }> {
  const runs = await Promise.all(Array.from({ length: n }, (_, i) =>
    runMeasured(['dispatch', '--json', '--worker', `w${i}`], { cwd: ROOT, env: { ...env, DATABASE_URL: url } })));
  for (const r of runs) if (r.code !== 0) throw new Error(`dispatch failed (${r.code}): ${r.stderr}`);
  const db = benchDb(url);
  const { rows } = await sql<{ n: number; first: Date; last: Date }>`
    SELECT count(*)::int AS n, min(sent_at) AS first, max(sent_at) AS last FROM deliveries WHERE status = 'sent'`.execute(db);
  await db.destroy();
  const r = rows[0]!;
  return { sent: r.n, perSecond: r.n / ((r.last.getTime() - r.first.getTime()) / 1000) };
}

async function main(): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  const server = await startEmbedded({ dataDir: PG_DIR, port: await freePort(), database: 'postgres', settings: { fsync: 'off', synchronous_commit: 'off' } });
  const children: ChildProcess[] = [];
  try {
    const base: NodeJS.ProcessEnv = {
      ...process.env, ...CREDENTIALS, MARKETER_TRANSPORT: 'ses', MARKETER_UNSUBSCRIBE_SECRET: 'bench-secret',
      MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u', MARKETER_CONCURRENCY: '4',
    };
    delete base.MARKETER_RATE;

    const emulator = await startEndpoint('emulator');
    children.push(emulator.child);
    const limited = { ...base, MARKETER_SES_ENDPOINT: emulator.endpoint };
    console.log(`Rate-limited: account MaxSendRate 50, no rate set (each worker: 80% = 40/s), ${int(ROWS)} deliveries`);
    const one = await fleet(await prepare(server.url, 'fleet_one', limited), 1, limited);
    console.log(`  1 dispatcher             ${one.perSecond.toFixed(1)}/s (${int(one.sent)} sent)`);
    const many = await fleet(await prepare(server.url, 'fleet_many', limited), WORKERS, limited);
    const within = Math.abs(many.perSecond - 40) <= 4;
    console.log(`  ${WORKERS} dispatchers at once   ${many.perSecond.toFixed(1)}/s together (${int(many.sent)} sent; goal 40/s ±10%: ${within ? 'met' : 'MISSED'})`);

    const stub = await startEndpoint('stub');
    children.push(stub.child);
    const open = { ...base, MARKETER_SES_ENDPOINT: stub.endpoint, MARKETER_RATE: '100000', MARKETER_CONCURRENCY: '2' };
    console.log(`\nEndpoint-limited: a stub answering after ${LATENCY_MS} ms, concurrency 2 per worker, rate 100,000/s`);
    const counts = [...new Set([1, 2, WORKERS])];
    let single = 0;
    for (const n of counts) {
      const r = await fleet(await prepare(server.url, `fleet_open_${n}`, open), n, open);
      if (n === 1) single = r.perSecond;
      console.log(`  ${n} dispatcher${n === 1 ? ' ' : 's'}            ${r.perSecond.toFixed(1)}/s (${(r.perSecond / single).toFixed(2)}× one worker)`);
    }
  } finally {
    for (const c of children) c.kill();
    await server.stop();
    rmSync(PG_DIR, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
