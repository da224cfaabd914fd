/**
 * bench/send: `marketer send --now` of N subscribers through a local SES v2 endpoint
 * (aws-ses-v2-local), against a bare loop of SendEmailCommand calls at the same concurrency to
 * the same endpoint (the ceiling), plus the time to enqueue 1M deliveries.
 *
 *   node --import tsx bench/send.ts [--rows 100000] [--concurrency 16] [--enqueue-rows 1000000] [--stub]
 *
 * The emulator keeps every mail in memory; the bench clears its store every second so that
 * its own growth does not slow the later part of a run. `--stub` replaces it with a minimal
 * SES endpoint that reads each request and answers with a MessageId, storing nothing: the
 * emulator manages about 500 requests/s here, which would make a 1M run last over half an hour.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import path from 'node:path';
import pg from 'pg';
import pLimit from 'p-limit';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { compileCampaign, loadCampaign } from '../src/campaigns/index.js';
import { addressHashKeys, sessionOptions } from '../src/db/address-hash.js';
import { loadConfig } from '../src/config/config.js';
import { freePort, startEmbedded } from '../src/db/embedded.js';
import type { Database } from '../src/db/types.js';
import { enqueueDeliveries, recordCampaign } from '../src/sending/enqueue.js';
import { DATA_DIR, ROOT, argValue, freshDatabase, int, mb, runMeasured, secs } from './lib.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const argv = process.argv.slice(2);
const ROWS = Number(argValue(argv, '--rows') ?? 100_000);
const CONCURRENCY = Number(argValue(argv, '--concurrency') ?? 16);
const ENQUEUE_ROWS = Number(argValue(argv, '--enqueue-rows') ?? 1_000_000);
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/St_Johns', 'Asia/Tokyo', 'Australia/Adelaide'];
const STUB = argv.includes('--stub');
// Per run, so two runs at once do not share (and drop) each other's databases.
const PG_DIR = path.join(DATA_DIR, `send-pg-${process.pid}`);
const CREDENTIALS = { AWS_ACCESS_KEY_ID: 'AKIDBENCH', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1' };

// A SendEmail endpoint that stores nothing (SES v2 REST: POST /v2/email/outbound-emails), and
// answers the reads made before a send as a healthy production account with verified identities.
const STUB_SOURCE = `
const http = require('node:http');
let n = 0;
const account = { SendingEnabled: true, ProductionAccessEnabled: true, EnforcementStatus: 'HEALTHY',
  SendQuota: { Max24HourSend: 10000000, MaxSendRate: 100000, SentLast24Hours: 0 } };
http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    let body;
    if (req.method === 'GET' && req.url.startsWith('/v2/email/account')) body = account;
    else if (req.method === 'GET' && req.url.startsWith('/v2/email/identities/')) {
      const name = decodeURIComponent(req.url.slice('/v2/email/identities/'.length).split('?')[0]);
      body = { IdentityType: name.includes('@') ? 'EMAIL_ADDRESS' : 'DOMAIN', VerifiedForSendingStatus: true,
        VerificationStatus: 'SUCCESS', DkimAttributes: { Status: 'SUCCESS', SigningEnabled: true } };
    } else body = { MessageId: 'stub-' + process.pid + '-' + (++n) };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
}).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('server running'));
`;

async function startEmulator(): Promise<{ endpoint: string; child: ChildProcess }> {
  const port = await freePort();
  if (STUB) {
    const child = spawn(process.execPath, ['-e', STUB_SOURCE, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('server running')) resolve(); }));
    return { endpoint: `http://127.0.0.1:${port}`, child };
  }
  const cli = createRequire(import.meta.url).resolve('aws-ses-v2-local/dist/cli.js');
  const child = spawn(process.execPath, [cli, '--host', '127.0.0.1', '--port', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('server running')) resolve(); }));
  return { endpoint: `http://127.0.0.1:${port}`, child };
}

async function seed(url: string, n: number): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`INSERT INTO subscribers (email, first_name, timezone, tags)
    SELECT 'user' || i || '@example.com', 'User' || i, ($1::text[])[1 + i % $2], '{newsletter}'
    FROM generate_series(1, $3) i`, [ZONES, ZONES.length, n]);
  await c.query('ANALYZE subscribers');
  await c.end();
}

async function main(): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  const server = await startEmbedded({
    dataDir: PG_DIR,
    port: await freePort(),
    database: 'postgres',
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', shared_buffers: '256MB' },
  });
  const emulator = await startEmulator();
  const clearTimer = setInterval(() => {
    const req = http.request(`${emulator.endpoint}/clear-store`, { method: 'POST' });
    req.on('error', () => undefined);
    req.end();
  }, 1000);
  try {
    console.log(`Postgres: embedded (fsync off); SES: ${STUB ? 'a stub endpoint that stores nothing' : 'aws-ses-v2-local, store cleared every second'} at ${emulator.endpoint}`);
    console.log(`Campaign: campaigns/weekly.yaml (the example newsletter), ${int(ROWS)} subscribers, concurrency ${CONCURRENCY}\n`);

    // 1. marketer send --now
    const url = await freshDatabase(server.url, 'bench_send');
    await seed(url, ROWS);
    const env = {
      ...process.env, ...CREDENTIALS, DATABASE_URL: url, MARKETER_TRANSPORT: 'ses', MARKETER_SES_ENDPOINT: emulator.endpoint,
      MARKETER_UNSUBSCRIBE_SECRET: 'bench-secret', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u',
      MARKETER_CONCURRENCY: String(CONCURRENCY), MARKETER_RATE: '1000000',
    };
    const run = await runMeasured(['send', 'campaigns/weekly.yaml', '--now', '--json', '-q'], { cwd: ROOT, env });
    const startedWall = Date.now() - run.ms;
    if (run.code !== 0) throw new Error(`marketer send failed (${run.code}): ${run.stderr}`);
    if (process.env.BENCH_NODE_ARGS) writeFileSync(path.join(DATA_DIR, 'send-stdout.txt'), run.stdout);
    const doc = JSON.parse(run.stdout.slice(run.stdout.indexOf('\n{') + 1)) as { sent: number; failed: number; unknown: number };
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 2 }) }) });
    const span = await sql<{ first: Date; last: Date }>`SELECT min(sent_at) AS first, max(sent_at) AS last FROM deliveries`.execute(db);
    const dispatchMs = span.rows[0]!.last.getTime() - span.rows[0]!.first.getTime();
    const marketerRate = doc.sent / (dispatchMs / 1000);

    // 2. The ceiling: the same rendered message sent in a bare loop, same concurrency, same endpoint.
    const config = loadConfig({ cwd: ROOT, env });
    const compiled = await compileCampaign(await loadCampaign(path.join(ROOT, 'campaigns/weekly.yaml'), config), config);
    const msg = compiled.render({ subscriberId: '1', email: 'user1@example.com', first_name: 'Ada', last_name: null, timezone: 'UTC', attributes: {} });
    const client = new SESv2Client({
      region: 'us-east-1', endpoint: emulator.endpoint, maxAttempts: 1, credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' },
      requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY }) }),
    });
    const limit = pLimit(CONCURRENCY);
    const loopN = Math.min(ROWS, 50_000);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    await Promise.all(Array.from({ length: loopN }, (_, i) => limit(() => client.send(new SendEmailCommand({
      FromEmailAddress: msg.from, Destination: { ToAddresses: [`user${i}@example.com`] },
      Content: { Simple: { Subject: { Data: msg.subject }, Body: { Html: { Data: msg.html }, Text: { Data: msg.text } }, Headers: msg.headers.map((h) => ({ Name: h.name, Value: h.value })) } },
      EmailTags: [{ Name: 'campaign', Value: '42' }, { Name: 'delivery', Value: String(i) }],
    })))));
    const ceiling = loopN / ((performance.now() - t0) / 1000);
    const cpu1 = process.cpuUsage(cpu0);
    const loopCpuPerMail = (cpu1.user + cpu1.system) / 1000 / loopN;
    client.destroy();

    // 3. Enqueue time for ENQUEUE_ROWS subscribers (one INSERT … SELECT).
    const url2 = await freshDatabase(server.url, 'bench_enqueue');
    await seed(url2, ENQUEUE_ROWS);
    const db2 = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url2, max: 2, options: sessionOptions(addressHashKeys(config)) }) }) });
    const campaign = await loadCampaign(path.join(ROOT, 'campaigns/weekly.yaml'), { ...config, databaseUrl: url2 });
    await recordCampaign(db2, campaign);
    const e0 = performance.now();
    const enqueued = await enqueueDeliveries(db2, campaign, new Date());
    const enqueueMs = performance.now() - e0;
    await db2.destroy();
    await db.destroy();

    const ratio = marketerRate / ceiling;
    console.log(`marketer send --now      ${int(doc.sent)} sent, ${doc.failed} failed, ${doc.unknown} unknown in ${secs(run.ms)} wall (start-up, enqueue, dispatch)`);
    console.log(`  dispatch               ${int(marketerRate)} emails/s (first to last send ${secs(dispatchMs)})`);
    console.log(`  peak RSS               ${mb(run.peakRssKiB)} (goal < 200 MB: ${run.peakRssKiB < 200 * 1024 ? 'met' : 'MISSED'})`);
    // Where the peak falls: compiling (MJML in a worker, first seconds) or sending (the rest).
    const firstSend = span.rows[0]!.first.getTime();
    const sendingFrom = firstSend - startedWall;
    const rssWhile = (from: number, to: number) => Math.max(0, ...run.samples.filter(([t]) => t >= from && t < to).map(([, k]) => k));
    console.log(`  RSS before sending     ${mb(rssWhile(0, sendingFrom))}; while sending ${mb(rssWhile(sendingFrom, Infinity))}`);
    console.log(`bare SendEmail loop      ${int(ceiling)} emails/s (${int(loopN)} calls, same concurrency and endpoint)`);
    console.log(`  marketer / ceiling     ${(ratio * 100).toFixed(0)}% (goal >= 80%: ${ratio >= 0.8 ? 'met' : 'MISSED'})`);
    // CPU per mail survives a loaded machine better than rates do. marketer's figure is the
    // whole process (start-up, compile and enqueue included); the loop's is the loop alone.
    const cpuPerMail = run.cpuMs / doc.sent;
    console.log(`CPU per mail             marketer ${cpuPerMail.toFixed(3)} ms (whole process, ${secs(run.cpuMs)} CPU); bare loop ${loopCpuPerMail.toFixed(3)} ms; marketer / loop ${(cpuPerMail / loopCpuPerMail).toFixed(2)}×`);
    console.log(`enqueue ${int(enqueued)} deliveries  ${secs(enqueueMs)} (goal ≤ 10 s: ${enqueueMs <= 10_000 ? 'met' : 'MISSED'})`);
  } finally {
    clearInterval(clearTimer);
    emulator.child.kill();
    await server.stop();
    rmSync(PG_DIR, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
