/**
 * SES events: ingest throughput and its CPU cost against a bare loader, on plain Postgres.
 *
 *   node --import tsx bench/events.ts [--events N] [--rounds N] [--against DIR] [--build]
 *
 * 1. Seeds campaign 42 with 200,000 sent deliveries in a template database and writes N
 *    (default 1,000,000) SES records as JSON lines (half raw, half in SNS envelopes: Send,
 *    Delivery, Open, Click, bounces, complaints). Then, --rounds times (default 3), alternately
 *    (ABAB, the side that goes first swapping each round): `marketer events ingest <file>
 *    --json` (the built CLI, a child process) and a baseline child process that stores the same
 *    records with the least any ingest must do (parse each line, and the SNS envelope's
 *    Message; one INSERT … FROM unnest … ON CONFLICT DO NOTHING per 2,000 records into
 *    email_events; two batches in flight, as marketer), each into a fresh copy of the template.
 *    Printed per run and as medians: events/s, CPU-seconds per 1M events of the process and of
 *    Postgres (all of its processes, from /proc), peak RSS of the process and of the process plus
 *    Postgres (proportional set sizes, so shared buffers count once); and each side's events/s
 *    as a share of the bare loader's in the same round (on a shared VM the machine's speed
 *    moves from one round to the next).
 *    With --against DIR, a third side in the same rounds: `events ingest` of another built
 *    checkout (its bin/ and dist/, e.g. a worktree at an older commit), so that a change is
 *    measured against the code before it under the same load.
 * 2. Re-ingest of the same file into marketer's last database (all duplicates).
 * `marketer stats` on 10M events is bench/stats.ts.
 *
 * Postgres is a throwaway embedded server on a free port under bench/.data, with fsync,
 * synchronous_commit and full_page_writes off like every bench here (the same for both sides:
 * durability would only add the disk's noise), or BENCH_DATABASE_URL's server with its own
 * settings. The server folder and the event file are removed at the end, on error and on Ctrl-C.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { freePort, startEmbedded, type EmbeddedServer } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import type { Database } from '../src/db/types.js';
import { CLI, DATA_DIR, ROOT, median, postmasterPid, readCurrentRss, readRss, reapedChildrenCpuMs, treeCpuMs, treePssKiB, withDatabase } from './lib.js';

const PG_DIR = path.join(DATA_DIR, `events-pg-${process.pid}`);
// BENCH_NODE_ARGS passes flags to the measured marketer ingest only (e.g. --cpu-prof).
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
const SEED_DB = 'bench_events_seed';
const GOAL_EVENTS_PER_S = 25_000;
const INGEST_DELIVERIES = 200_000;

interface Args { events: number; rounds: number; against: string | undefined }

function parseArgs(argv: string[]): Args {
  const args: Args = { events: 1_000_000, rounds: 3, against: undefined };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    const num = () => {
      const n = Number((argv[i + 1] ?? '').replace(/_/g, ''));
      if (!Number.isInteger(n) || n < 1) throw new Error(`${a} needs a positive integer`);
      i += 1;
      return n;
    };
    if (a === '--events') args.events = num();
    else if (a === '--rounds') args.rounds = num();
    else if (a === '--against') {
      const dir = argv[++i];
      if (!dir) throw new Error('--against needs the folder of a built checkout');
      args.against = path.resolve(dir);
    } else if (a === '--build') continue; // lib.ts builds dist/ whenever a source is newer
    else throw new Error(`unknown argument ${JSON.stringify(a)} (usage: bench/events.ts [--events N] [--rounds N] [--against DIR])`);
  }
  return args;
}

const AT = Date.parse('2026-12-01T08:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

function mail(d: number, at: number) {
  return {
    timestamp: iso(at),
    source: 'News <news@example.com>',
    sendingAccountId: '123456789012',
    messageId: `bench-${d}`,
    destination: [`user${d}@example.com`],
    headersTruncated: false,
    commonHeaders: { from: ['News <news@example.com>'], to: [`user${d}@example.com`], subject: 'December news' },
    tags: { 'ses:configuration-set': ['marketer'], campaign: ['42'], delivery: [String(d)] },
  };
}

/** The i-th record: a realistic mix (per 20: 2 Send, 2 Delivery, 10 Open, 4 Click, 1 Bounce, 1 DeliveryDelay/Complaint). */
function record(i: number, firstDelivery: number): Record<string, unknown> {
  const d = firstDelivery + (i % INGEST_DELIVERIES);
  const at = AT + (i % 86_400) * 1000;
  const t = iso(at + 5000 + (i % 7919) * 1000);
  const m = mail(d, at);
  switch (i % 20) {
    case 0: case 1: return { eventType: 'Send', mail: m, send: {} };
    case 2: case 3: return { eventType: 'Delivery', mail: m, delivery: { timestamp: t, processingTimeMillis: 512, recipients: [`user${d}@example.com`], smtpResponse: '250 ok', reportingMTA: 'a8-70.smtp-out.amazonses.com' } };
    case 4: case 5: case 6: case 7: case 8: case 9: case 10: case 11: case 12: case 13:
      return { eventType: 'Open', mail: m, open: { ipAddress: '192.0.2.1', timestamp: t, userAgent: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)' } };
    case 14: case 15: case 16: case 17:
      return { eventType: 'Click', mail: m, click: { ipAddress: '192.0.2.1', timestamp: t, userAgent: 'Mozilla/5.0', link: `https://example.com/article/${i % 12}?utm_source=marketer&utm_campaign=december`, linkTags: {} } };
    case 18: {
      const permanent = i % 100 === 18;
      return { eventType: 'Bounce', mail: m, bounce: { bounceType: permanent ? 'Permanent' : 'Transient', bounceSubType: permanent ? 'General' : 'MailboxFull', bouncedRecipients: [{ emailAddress: `user${d}@example.com`, status: '5.1.1' }], timestamp: t, feedbackId: `fb-${i}` } };
    }
    default:
      return i % 1000 === 19
        ? { eventType: 'Complaint', mail: m, complaint: { complainedRecipients: [{ emailAddress: `user${d}@example.com` }], timestamp: t, feedbackId: `c-${i}`, complaintFeedbackType: 'abuse' } }
        : { eventType: 'DeliveryDelay', mail: m, deliveryDelay: { timestamp: t, delayType: 'MailboxFull', delayedRecipients: [{ emailAddress: `user${d}@example.com` }] } };
  }
}

async function writeEvents(file: string, n: number, firstDelivery: number): Promise<void> {
  const out = createWriteStream(file);
  let buf = '';
  for (let i = 0; i < n; i++) {
    const r = record(i, firstDelivery);
    // Half arrive in SNS envelopes (dedupe by MessageId), half raw (dedupe by record hash).
    const line = i % 2 === 0 ? JSON.stringify({ Type: 'Notification', MessageId: `sns-${i}`, TopicArn: 'arn:aws:sns:us-east-1:123456789012:ses', Message: JSON.stringify(r), Timestamp: iso(AT) }) : JSON.stringify(r);
    buf += `${line}\n`;
    if (buf.length > 1 << 20) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}

/**
 * The baseline: the same records stored with the least any ingest must do. Plain CommonJS run
 * by node itself (no TypeScript loader), so that its CPU compares with the built CLI's.
 */
const BASELINE_SOURCE = `
const { createReadStream } = require('node:fs');
const { createHash } = require('node:crypto');
const { createInterface } = require('node:readline');
const pg = require('pg');
const [file, url] = process.argv.slice(1);
const pool = new pg.Pool({ connectionString: url, max: 2 });
const when = (r) => (r[({ Send: 'send', Delivery: 'delivery', Open: 'open', Click: 'click', Bounce: 'bounce', Complaint: 'complaint', DeliveryDelay: 'deliveryDelay' })[r.eventType]] || {}).timestamp || r.mail.timestamp;
async function store(rows) {
  const col = (i) => rows.map((r) => r[i]);
  const r = await pool.query(\`INSERT INTO email_events (time, dedupe_key, event_type, message_id)
    SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::text[]) ON CONFLICT (dedupe_key, time) DO NOTHING\`, [col(0), col(1), col(2), col(3)]);
  return r.rowCount;
}
(async () => {
  let rows = [];
  let stored = 0;
  const inFlight = new Set();
  for await (const line of createInterface({ input: createReadStream(file), crlfDelay: Infinity })) {
    if (!line) continue;
    const v = JSON.parse(line);
    const sns = v.Type === 'Notification';
    const r = sns ? JSON.parse(v.Message) : v;
    rows.push([when(r), sns ? 'sns:' + v.MessageId : 'sha256:' + createHash('sha256').update(JSON.stringify(r)).digest('hex'), r.eventType, r.mail.messageId]);
    if (rows.length === 2000) {
      const p = store(rows).then((n) => { stored += n; inFlight.delete(p); });
      inFlight.add(p);
      rows = [];
      if (inFlight.size >= 2) await Promise.race(inFlight);
    }
  }
  if (rows.length > 0) stored += await store(rows);
  await Promise.all(inFlight);
  await pool.end();
  console.log(JSON.stringify({ ingested: stored }));
})().catch((err) => { console.error(err); process.exit(1); });
`;

interface Measured {
  ms: number;
  /** CPU of the process (user + system), exact: read from this process's reaped-children total. */
  cpuMs: number;
  /** CPU of every Postgres process over the same span (backends, writers, autovacuum). */
  pgCpuMs: number;
  /** VmHWM of the process. */
  rssKiB: number;
  /** Peak of the process's RSS plus Postgres's proportional set size, sampled every 250 ms. */
  treeKiB: number;
  stdout: string;
  stderr: string;
  code: number | null;
}

/** Run a node child (the CLI, or the baseline's source with -e) and measure it and Postgres. */
async function measure(nodeArgs: string[], env: NodeJS.ProcessEnv, pgPid: number | undefined): Promise<Measured> {
  const pg0 = pgPid === undefined ? 0 : treeCpuMs(pgPid);
  const cpu0 = reapedChildrenCpuMs();
  const started = performance.now();
  const child = spawn(process.execPath, nodeArgs, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  let rssKiB = 0;
  let treeKiB = 0;
  let tick = 0;
  const poll = setInterval(() => {
    if (child.pid === undefined) return;
    rssKiB = Math.max(rssKiB, readRss(child.pid) ?? 0);
    if (++tick % 10 === 0 && pgPid !== undefined) treeKiB = Math.max(treeKiB, (readCurrentRss(child.pid) ?? 0) + treePssKiB([pgPid]));
  }, 25);
  const [code] = (await once(child, 'exit')) as [number | null];
  const ms = performance.now() - started;
  clearInterval(poll);
  // The backends of the child's connections end with it; give the postmaster a moment to reap
  // them, so that their CPU is in its children's total.
  await new Promise((r) => setTimeout(r, 300));
  return { ms, cpuMs: reapedChildrenCpuMs() - cpu0, pgCpuMs: pgPid === undefined ? NaN : treeCpuMs(pgPid) - pg0, rssKiB, treeKiB, stdout, stderr, code };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(DATA_DIR, { recursive: true });
  const file = path.join(DATA_DIR, `events-${process.pid}.jsonl`);
  let server: EmbeddedServer | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    rmSync(file, { force: true });
    if (server) {
      await server.stop().catch(() => undefined);
      rmSync(PG_DIR, { recursive: true, force: true });
    }
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: removing the bench's server folder and event file…`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    let adminUrl = process.env.BENCH_DATABASE_URL;
    let pgPid: number | undefined;
    if (!adminUrl) {
      server = await startEmbedded({
        dataDir: PG_DIR, port: await freePort(), database: 'postgres',
        settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
      });
      adminUrl = server.url;
      pgPid = postmasterPid(PG_DIR);
    }
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    const copy = async (name: string) => {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE ${name} TEMPLATE ${SEED_DB}`);
      await admin.query('CHECKPOINT');
      return withDatabase(adminUrl!, name);
    };
    await admin.query(`DROP DATABASE IF EXISTS ${SEED_DB} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${SEED_DB}`);
    const seedUrl = withDatabase(adminUrl, SEED_DB);
    const seedDb = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: seedUrl, max: 1 }) }) });
    let first: number;
    try {
      const engine = await migrate(seedDb);
      const version = (await sql<{ v: string }>`SELECT current_setting('server_version') AS v`.execute(seedDb)).rows[0]?.v;
      console.log(`Postgres ${version} (${engine.engine}${server ? ', embedded, fsync off' : ', BENCH_DATABASE_URL'}); node ${process.version}; load average ${loadavg()[0]!.toFixed(1)}`);
      const t0 = performance.now();
      await sql`INSERT INTO campaigns (id, name, file, content_hash, status) VALUES (42, 'ingest bench', 'campaigns/42.yaml', 'x', 'done')`.execute(seedDb);
      await sql`
        INSERT INTO subscribers (email, timezone)
        SELECT 'user' || g || '@example.com', (ARRAY['Europe/Berlin','America/New_York','Asia/Kolkata','UTC'])[1 + g % 4]
        FROM generate_series(1, ${INGEST_DELIVERIES}) g`.execute(seedDb);
      await sql`
        INSERT INTO deliveries (campaign_id, subscriber_id, due_at, timezone, status, message_id, sent_at)
        SELECT 42, s.id, ${iso(AT)}::timestamptz, s.timezone, 'sent', NULL, ${iso(AT)}::timestamptz
        FROM subscribers s ORDER BY s.id`.execute(seedDb);
      first = Number((await sql<{ id: string }>`SELECT min(id) AS id FROM deliveries WHERE campaign_id = 42`.execute(seedDb)).rows[0]!.id);
      await sql`UPDATE deliveries SET message_id = 'bench-' || id WHERE campaign_id = 42`.execute(seedDb);
      await sql`VACUUM ANALYZE`.execute(seedDb);
      console.log(`seeded ${INGEST_DELIVERIES.toLocaleString('en-US')} deliveries for campaign 42 in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } finally {
      await seedDb.destroy();
    }

    let t0 = performance.now();
    await writeEvents(file, args.events, first);
    console.log(`wrote ${args.events.toLocaleString('en-US')} records (${(statSync(file).size / 1e6).toFixed(0)} MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);

    const envFor = (url: string): NodeJS.ProcessEnv => ({ ...process.env, DATABASE_URL: url, MARKETER_HASH_SECRET: 'bench-hash-secret', NO_COLOR: '1', CI: '1' });
    const perM = (ms: number) => ((ms / 1000) * 1e6) / args.events;
    type Side = 'marketer' | 'baseline' | 'against';
    const runs: { side: Side; round: number; m: Measured; load: number }[] = [];
    const sides: Side[] = args.against ? ['marketer', 'baseline', 'against'] : ['marketer', 'baseline'];
    let marketerUrl = '';
    for (let round = 1; round <= args.rounds; round++) {
      const order = round % 2 === 1 ? sides : [...sides].reverse();
      for (const side of order) {
        const url = await copy(`bench_events_${side}`);
        if (side === 'marketer') marketerUrl = url;
        const load = loadavg()[0]!;
        const m = side === 'baseline'
          ? await measure(['-e', BASELINE_SOURCE, file, url], envFor(url), pgPid)
          : await measure([...NODE_ARGS, side === 'against' ? path.join(args.against!, 'bin', 'marketer.js') : CLI, 'events', 'ingest', file, '--json'], envFor(url), pgPid);
        if (m.code !== 0) throw new Error(`${side} ingest failed: ${m.stderr}`);
        const stored = (JSON.parse(m.stdout) as { ingested: number }).ingested;
        if (stored !== args.events) throw new Error(`${side} stored ${stored} of ${args.events} events`);
        runs.push({ side, round, m, load });
        console.log(`round ${round}  ${side.padEnd(8)}  ${Math.round(args.events / (m.ms / 1000)).toLocaleString('en-US').padStart(7)} events/s  CPU per 1M events: process ${perM(m.cpuMs).toFixed(1).padStart(5)} s, Postgres ${perM(m.pgCpuMs).toFixed(1).padStart(5)} s  peak RSS ${(m.rssKiB / 1024).toFixed(0)} MB, with Postgres ${(m.treeKiB / 1024).toFixed(0)} MB  (load ${load.toFixed(1)})`);
      }
    }
    const med = (side: string, f: (m: Measured) => number) => median(runs.filter((r) => r.side === side).map((r) => f(r.m)));
    console.log('');
    for (const side of sides) {
      const rate = args.events / (med(side, (m) => m.ms) / 1000);
      const cpu = perM(med(side, (m) => m.cpuMs));
      const pgCpu = perM(med(side, (m) => m.pgCpuMs));
      console.log(`${side.padEnd(8)}  median ${Math.round(rate).toLocaleString('en-US')} events/s${side === 'marketer' ? ` (goal ≥ ${GOAL_EVENTS_PER_S.toLocaleString('en-US')}/s on a quiet machine: ${rate >= GOAL_EVENTS_PER_S ? 'met' : 'MISSED'})` : ''}; CPU-s per 1M events: process ${cpu.toFixed(1)}, Postgres ${pgCpu.toFixed(1)}, together ${(cpu + pgCpu).toFixed(1)}; peak RSS ${(med(side, (m) => m.rssKiB) / 1024).toFixed(0)} MB, with Postgres ${(med(side, (m) => m.treeKiB) / 1024).toFixed(0)} MB`);
    }
    // The machine's speed moves between rounds (a shared VM): the bare loader of the same round
    // is the yardstick that moves with it.
    for (const side of sides.filter((x) => x !== 'baseline')) {
      const shares = runs.filter((r) => r.side === side).map((r) => {
        const base = runs.find((x) => x.side === 'baseline' && x.round === r.round)!;
        return base.m.ms / r.m.ms;
      });
      console.log(`${side.padEnd(8)}  events/s as a share of the bare loader's in the same round: ${shares.map((x) => x.toFixed(3)).join(' / ')} (median ${median(shares).toFixed(3)})`);
    }
    const ratio = (med('marketer', (m) => m.cpuMs + m.pgCpuMs)) / (med('baseline', (m) => m.cpuMs + m.pgCpuMs));
    console.log(`marketer / baseline: ${ratio.toFixed(2)}× the CPU (process + Postgres) for the same events`);
    if (args.against) {
      const cpu = (side: Side) => med(side, (m) => m.cpuMs + m.pgCpuMs);
      const rate = (side: Side) => args.events / (med(side, (m) => m.ms) / 1000);
      console.log(`marketer / ${args.against}: ${(cpu('marketer') / cpu('against')).toFixed(3)}× the CPU, ${(rate('marketer') / rate('against')).toFixed(3)}× the events/s`);
    }

    const again = await measure([CLI, 'events', 'ingest', file, '--json'], envFor(marketerUrl), pgPid);
    const dup = JSON.parse(again.stdout) as Record<string, number>;
    console.log(`\nre-ingest of the same file: ${(again.ms / 1000).toFixed(1)} s, ingested ${dup.ingested}, duplicates ${dup.duplicates?.toLocaleString('en-US')}; CPU per 1M: process ${perM(again.cpuMs).toFixed(1)} s, Postgres ${perM(again.pgCpuMs).toFixed(1)} s`);
    await admin.end();
  } finally {
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
