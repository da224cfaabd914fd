/**
 * bench/send: `marketer send --now` of N subscribers through a local SES v2 endpoint
 * (aws-ses-v2-local), against a bare loop of SendEmailCommand calls at the same concurrency to
 * the same endpoint (the ceiling), in alternating rounds. Enqueue at 1M: bench/enqueue.ts.
 *
 *   node --import tsx bench/send.ts [--rows 20000] [--rounds 3] [--concurrency 16] [--stub]
 *
 * Each round sends N and N/10 subscribers (marketer's CPU per mail is the difference over the
 * difference) and runs the bare loop with the SDK's default settings and with marketer's client
 * settings; figures are medians over the rounds.
 *
 * The emulator keeps every mail in memory; the bench clears its store every second so that
 * its own growth does not slow the later part of a run. `--stub` replaces it with a minimal
 * SES endpoint that reads each request and answers with a MessageId, storing nothing: the
 * emulator manages about 500 requests/s here, which would make a 1M run last over half an hour.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import http from 'node:http';
import { loadavg } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { sql } from 'kysely';
import { compileCampaign, loadCampaign } from '../src/campaigns/index.js';
import { loadConfig } from '../src/config/config.js';
import { freePort, startEmbedded } from '../src/db/embedded.js';
import { DATA_DIR, ROOT, argValue, benchDb, freshDatabase, int, mb, median, postmasterPid, runMeasured, secs } from './lib.js';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
const argv = process.argv.slice(2);
const ROWS = Number(argValue(argv, '--rows') ?? 20_000);
const SMALL = Math.max(200, Math.round(ROWS / 10));
const ROUNDS = Number(argValue(argv, '--rounds') ?? 3);
const CONCURRENCY = Number(argValue(argv, '--concurrency') ?? 16);
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

interface SendRun {
  sent: number;
  cpuMs: number;
  wallMs: number;
  /** First to last send, from the ledger. */
  dispatchMs: number;
  peakRssKiB: number;
  peakTreePssKiB: number;
  rssBeforeKiB: number;
  rssWhileKiB: number;
}

/** `marketer send --now` of `rows` subscribers into a fresh database. */
async function marketerSend(adminUrl: string, emulator: string, rows: number, pgPid: number | undefined): Promise<SendRun> {
  const url = await freshDatabase(adminUrl, 'bench_send');
  await seed(url, rows);
  const env = {
    ...process.env, ...CREDENTIALS, DATABASE_URL: url, MARKETER_TRANSPORT: 'ses', MARKETER_SES_ENDPOINT: emulator,
    MARKETER_UNSUBSCRIBE_SECRET: 'bench-secret', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u',
    MARKETER_CONCURRENCY: String(CONCURRENCY), MARKETER_RATE: '1000000',
  };
  const run = await runMeasured(['send', 'campaigns/weekly.yaml', '--now', '--json', '-q'], { cwd: ROOT, env, treeRoots: pgPid ? [pgPid] : [] });
  const startedWall = Date.now() - run.ms;
  if (run.code !== 0) throw new Error(`marketer send failed (${run.code}): ${run.stderr}`);
  if (process.env.BENCH_NODE_ARGS) writeFileSync(path.join(DATA_DIR, 'send-stdout.txt'), run.stdout);
  const doc = JSON.parse(run.stdout.slice(run.stdout.indexOf('\n{') + 1)) as { sent: number; failed: number; unknown: number };
  if (doc.sent !== rows) throw new Error(`marketer sent ${doc.sent} of ${rows} (${doc.failed} failed, ${doc.unknown} unknown)`);
  const db = benchDb(url);
  const span = await sql<{ first: Date; last: Date }>`SELECT min(sent_at) AS first, max(sent_at) AS last FROM deliveries`.execute(db);
  await db.destroy();
  // Where the peak falls: compiling (first seconds) or sending (the rest).
  const sendingFrom = span.rows[0]!.first.getTime() - startedWall;
  const rssWhile = (from: number, to: number) => Math.max(0, ...run.samples.filter(([t]) => t >= from && t < to).map(([, k]) => k));
  return {
    sent: doc.sent, cpuMs: run.cpuMs, wallMs: run.ms, dispatchMs: span.rows[0]!.last.getTime() - span.rows[0]!.first.getTime(),
    peakRssKiB: run.peakRssKiB, peakTreePssKiB: run.peakTreePssKiB,
    rssBeforeKiB: rssWhile(0, sendingFrom), rssWhileKiB: rssWhile(sendingFrom, Infinity),
  };
}

/** The bare SDK loop as its own process (bench/sdk-loop.mjs): CPU ms per call and calls/s. */
function sdkLoop(endpoint: string, n: number, mode: 'stock' | 'marketer', messageFile: string): { cpuPerCall: number; rate: number } {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bench', 'sdk-loop.mjs'), endpoint, String(n), String(CONCURRENCY), mode, messageFile],
    { cwd: ROOT, env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sdk-loop failed: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { calls: number; ms: number; cpuMs: number };
  return { cpuPerCall: out.cpuMs / out.calls, rate: out.calls / (out.ms / 1000) };
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
  const messageFile = path.join(DATA_DIR, `send-message-${process.pid}.json`);
  try {
    console.log(`Postgres: embedded (fsync off); SES: ${STUB ? 'a stub endpoint that stores nothing' : 'aws-ses-v2-local, store cleared every second'} at ${emulator.endpoint}`);
    console.log(`Campaign: campaigns/weekly.yaml (the example newsletter), ${int(ROWS)} and ${int(SMALL)} subscribers, concurrency ${CONCURRENCY}, ${ROUNDS} rounds`);
    console.log(`Load: ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n`);

    // The loops send the example message as marketer renders it for one subscriber.
    const config = loadConfig({ cwd: ROOT, env: { ...process.env, ...CREDENTIALS, MARKETER_UNSUBSCRIBE_SECRET: 'bench-secret', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u' } });
    const compiled = await compileCampaign(await loadCampaign(path.join(ROOT, 'campaigns/weekly.yaml'), config), config);
    const msg = compiled.render({ subscriberId: '1', email: 'user1@example.com', first_name: 'Ada', last_name: null, timezone: 'UTC', attributes: {} });
    writeFileSync(messageFile, JSON.stringify({ from: msg.from, subject: msg.subject, html: msg.html, text: msg.text, headers: msg.headers }));

    // Rounds of A B C D, so that whatever else the machine does hits all four alike. marketer's
    // CPU per mail is marginal: the difference between a large and a small send divided by the
    // difference in mails, which takes out start-up, compile and enqueue; the loops measure the
    // loop alone. Both are therefore the cost of one more mail.
    const pgPid = postmasterPid(PG_DIR);
    const loopN = Math.min(ROWS, 50_000);
    const big: SendRun[] = [];
    const small: SendRun[] = [];
    const stock: { cpuPerCall: number; rate: number }[] = [];
    const tuned: { cpuPerCall: number; rate: number }[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      big.push(await marketerSend(server.url, emulator.endpoint, ROWS, pgPid));
      stock.push(sdkLoop(emulator.endpoint, loopN, 'stock', messageFile));
      tuned.push(sdkLoop(emulator.endpoint, loopN, 'marketer', messageFile));
      small.push(await marketerSend(server.url, emulator.endpoint, SMALL, pgPid));
      const marginal = (big.at(-1)!.cpuMs - small.at(-1)!.cpuMs) / (ROWS - SMALL);
      console.log(`round ${round}: marketer ${marginal.toFixed(3)} CPU-ms/mail (marginal), whole process ${(big.at(-1)!.cpuMs / ROWS).toFixed(3)}; `
        + `SDK loop ${stock.at(-1)!.cpuPerCall.toFixed(3)} stock, ${tuned.at(-1)!.cpuPerCall.toFixed(3)} with marketer's client settings`);
    }

    const marginal = median(big.map((b, i) => (b.cpuMs - small[i]!.cpuMs) / (ROWS - SMALL)));
    const fixed = median(big.map((b, i) => b.cpuMs - marginal * ROWS));
    const stockCpu = median(stock.map((x) => x.cpuPerCall));
    const tunedCpu = median(tuned.map((x) => x.cpuPerCall));
    const rate = median(big.map((b) => b.sent / (b.dispatchMs / 1000)));
    const ceiling = median(stock.map((x) => x.rate));
    const last = big.at(-1)!;
    console.log(`\nmedians of ${ROUNDS} rounds`);
    console.log(`marketer send --now      ${int(ROWS)} sent in ${secs(median(big.map((b) => b.wallMs)))} wall (start-up, enqueue, dispatch)`);
    console.log(`  dispatch               ${int(rate)} emails/s (first to last send)`);
    console.log(`  peak RSS               marketer ${mb(Math.max(...big.map((b) => b.peakRssKiB)))} (goal < 200 MB); with Postgres (sum of Pss) ${mb(Math.max(...big.map((b) => b.peakTreePssKiB)))}`);
    console.log(`  RSS before sending     ${mb(last.rssBeforeKiB)}; while sending ${mb(last.rssWhileKiB)}`);
    console.log(`bare SendEmail loop      ${int(ceiling)} emails/s (${int(loopN)} calls, same concurrency and endpoint, stock SDK)`);
    console.log(`  marketer / ceiling     ${((rate / ceiling) * 100).toFixed(0)}% (goal >= 80%: ${rate / ceiling >= 0.8 ? 'met' : 'MISSED'})`);
    console.log(`CPU per mail             marketer ${marginal.toFixed(3)} ms marginal (+ ${secs(fixed)} CPU fixed per run: start-up, compile, enqueue)`);
    console.log(`  bare loop, stock SDK   ${stockCpu.toFixed(3)} ms; marketer / loop ${(marginal / stockCpu).toFixed(2)}× (goal <= 1.10×: ${marginal <= stockCpu * 1.1 ? 'met' : 'MISSED'})`);
    console.log(`  bare loop, marketer's client settings ${tunedCpu.toFixed(3)} ms; marketer / that loop ${(marginal / tunedCpu).toFixed(2)}×`);
    console.log(`Load: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    clearInterval(clearTimer);
    rmSync(messageFile, { force: true });
    emulator.child.kill();
    await server.stop();
    rmSync(PG_DIR, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
