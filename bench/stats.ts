/**
 * `marketer stats <id>` on a campaign with 10,000,000 events: the whole process, and its queries.
 *
 *   node --import tsx bench/stats.ts [--runs 15] [--baseline DIR] [--rebuild]
 *
 * The data (built once, then reused from bench/.data/stats-pg; --rebuild builds it again): campaign
 * 43 with 1,000,000 deliveries in four waves (statuses and first-event columns set in SQL) and
 * 10,000,000 rows in email_events generated in SQL over three days (per 10 events: 1 Delivery,
 * 6 Open, 2 Click on 15 links, 1 Bounce), then its rollups recounted as `marketer events
 * recount 43` does, and VACUUM ANALYZE. Postgres is an embedded server (or BENCH_DATABASE_URL's).
 * Data built by an older checkout is migrated on open: its ledger counts (campaign_ledger_counts)
 * are then counted once from the 1M deliveries before anything is timed.
 *
 * Timed, in one run, alternating case by case (ABAB) so that machine load hits all alike:
 *   - `node -e 0`, Node's own start, for scale;
 *   - `marketer stats 43 --json --tz Europe/Berlin` as a child process, spawn to exit: wall
 *     time (median) and CPU (user + system of the child, mean; /proc/self/stat's children
 *     times); with --baseline, the same command of another built checkout (its bin/ and dist/);
 *   - the same without the code cache (NODE_DISABLE_COMPILE_CACHE=1): a first run after an
 *     install or upgrade, when V8 compiles the CLI from its source;
 *   - the report's queries alone, in this process (campaignStats, as the command calls it).
 * The CLI keeps its compiled code in a cache folder of this run's own (XDG_CACHE_HOME), written by
 * the first, untimed run. Prints the load average with the figures. Goal: whole process ≤ 300 ms.
 */
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { sql } from 'kysely';
import { startEmbedded, freePort, type EmbeddedServer } from '../src/db/embedded.js';
import { campaignStats } from '../src/reports/campaign-stats.js';
import { recountRollups } from '../src/reports/recount-rollups.js';
import { argValue, benchDb, CLI, DATA_DIR, freshDatabase, ROOT, withDatabase } from './lib.js';

const RUNS = Number(argValue(process.argv, '--runs') ?? 15);
const baselineArg = argValue(process.argv, '--baseline');
const BASELINE = baselineArg ? path.resolve(baselineArg) : undefined;
const REBUILD = process.argv.includes('--rebuild');
const PG_DIR = path.join(DATA_DIR, 'stats-pg');
const DB_NAME = 'marketer_bench_stats';
const CAMPAIGN = 43;
const DELIVERIES = 1_000_000;
const EVENTS = 10_000_000;
const AT = '2026-11-20T08:00:00Z';
const GOAL_MS = 300;
const HASH_SECRET = 'bench-hash-secret-bench-hash-secret';

/** Campaign 43's deliveries, events and rollups, in SQL (about 5 minutes on 2 cores). */
async function build(url: string): Promise<void> {
  const db = benchDb(url, { max: 1 });
  try {
    let t0 = performance.now();
    await sql`INSERT INTO campaigns (id, name, file, content_hash, status) VALUES (${CAMPAIGN}, 'stats bench', 'campaigns/43.yaml', 'x', 'done')`.execute(db);
    await sql`
      INSERT INTO subscribers (email, timezone)
      SELECT 'user' || g || '@example.com', (ARRAY['Europe/Berlin','America/New_York','Asia/Kolkata','UTC'])[1 + g % 4]
      FROM generate_series(1, ${DELIVERIES}) g`.execute(db);
    await sql`
      INSERT INTO deliveries (campaign_id, subscriber_id, due_at, timezone, status, message_id, sent_at, delivered_at, opened_at, clicked_at, bounced_at, complained_at)
      SELECT ${CAMPAIGN}, s.id, ${AT}::timestamptz + (s.id % 4) * interval '3 hours', s.timezone,
        CASE WHEN s.id % 200 = 0 THEN 'failed' WHEN s.id % 150 = 0 THEN 'skipped' ELSE 'sent' END, 'm43-' || s.id, ${AT}::timestamptz,
        CASE WHEN s.id % 50 <> 0 THEN ${AT}::timestamptz + interval '5 seconds' END,
        CASE WHEN s.id % 3 = 0 THEN ${AT}::timestamptz + (s.id % 7200) * interval '1 second' END,
        CASE WHEN s.id % 12 = 0 THEN ${AT}::timestamptz + (s.id % 9000) * interval '1 second' END,
        CASE WHEN s.id % 50 = 0 THEN ${AT}::timestamptz + interval '6 seconds' END,
        CASE WHEN s.id % 2000 = 0 THEN ${AT}::timestamptz + interval '1 hour' END
      FROM subscribers s`.execute(db);
    await sql`UPDATE deliveries SET error = 'suppressed' WHERE campaign_id = ${CAMPAIGN} AND status = 'skipped' AND id % 2 = 0`.execute(db);
    await sql`UPDATE deliveries SET error = 'MessageRejected: Email address is not verified.' WHERE campaign_id = ${CAMPAIGN} AND status = 'failed'`.execute(db);
    const first = Number((await sql<{ id: string }>`SELECT min(id) AS id FROM deliveries WHERE campaign_id = ${CAMPAIGN}`.execute(db)).rows[0]!.id);
    console.log(`built ${DELIVERIES.toLocaleString('en-US')} deliveries in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    t0 = performance.now();
    await sql`
      INSERT INTO email_events (time, dedupe_key, event_type, campaign_id, delivery_id, message_id, bounce_type, bounce_subtype, link)
      SELECT ${AT}::timestamptz + (g % 259200) * interval '1 second', 'gen:' || g,
        (ARRAY['Delivery','Open','Open','Open','Click','Open','Open','Click','Open','Bounce'])[1 + g % 10],
        ${CAMPAIGN}, ${first} + g % ${DELIVERIES}, 'm43-' || g % ${DELIVERIES},
        CASE WHEN g % 10 = 9 THEN (CASE WHEN g % 30 = 9 THEN 'Permanent' ELSE 'Transient' END) END,
        CASE WHEN g % 10 = 9 THEN 'General' END,
        CASE WHEN g % 10 IN (4, 7) THEN 'https://example.com/article/' || (g % 15) || '?utm_source=marketer' END
      FROM generate_series(1, ${EVENTS}) g`.execute(db);
    console.log(`built ${EVENTS.toLocaleString('en-US')} events in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    t0 = performance.now();
    await recountRollups(db, CAMPAIGN);
    await sql`VACUUM ANALYZE`.execute(db);
    // Marks a complete build: an interrupted one is built again.
    await sql`INSERT INTO marketer_meta (key, value) VALUES ('bench_stats', ${String(EVENTS)})`.execute(db);
    console.log(`recounted the rollups and vacuumed in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  } finally {
    await db.destroy();
  }
}

async function built(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    const r = await c.query<{ value: string }>(`SELECT value FROM marketer_meta WHERE key = 'bench_stats'`);
    return r.rows[0]?.value === String(EVENTS);
  } catch {
    return false;
  } finally {
    await c.end().catch(() => {});
  }
}

/** CPU time (user + system) of this process's reaped children, in ms. */
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /s, '').split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS;
}

/**
 * CPU time of the Postgres server in ms, where this machine runs it (the embedded one): the
 * postmaster and its live processes, plus the backends it has reaped (a CLI's connections end
 * with the process and land in the postmaster's children times). Undefined for another server.
 */
let postmasterPid: number | undefined;
function serverCpuMs(): number | undefined {
  if (postmasterPid === undefined) return undefined;
  const stat = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  const own = stat(postmasterPid);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const child of readFileSync(`/proc/${postmasterPid}/task/${postmasterPid}/children`, 'utf8').trim().split(' ').filter(Boolean)) {
    try {
      const f = stat(Number(child));
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // Ended meanwhile: counted in the postmaster's children times instead.
    }
  }
  return (ticks * 1000) / TICKS;
}

interface Run { wall: number; cpu: number; server?: number }

function timeProcess(args: string[], env: NodeJS.ProcessEnv, cwd: string): Promise<Run & { stdout: string }> {
  return new Promise((resolve, reject) => {
    const cpu0 = childrenCpuMs();
    const server0 = serverCpuMs();
    const t0 = performance.now();
    const child = spawn(process.execPath, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (code) => {
      const wall = performance.now() - t0;
      if (code !== 0) return reject(new Error(`${args.join(' ')} exited ${code}: ${stderr}`));
      // The backend ends with the connection, a moment after the client: let it be reaped.
      setTimeout(() => resolve({ wall, cpu: childrenCpuMs() - cpu0, server: server0 === undefined ? undefined : serverCpuMs()! - server0, stdout }), 20);
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const load = () => execFileSync('uptime', { encoding: 'utf8' }).trim().replace(/.*load average/, 'load average');

async function main(): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  const cacheHome = mkdtempSync(path.join(tmpdir(), 'marketer-bench-cache-'));
  let server: EmbeddedServer | undefined;
  let adminUrl = process.env.BENCH_DATABASE_URL;
  if (!adminUrl) {
    // A server left by an earlier run keeps its data: the 10M rows are built once.
    server = await startEmbedded({ dataDir: PG_DIR, port: await freePort(), database: 'postgres', settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' } });
    adminUrl = server.url;
    postmasterPid = Number(readFileSync(path.join(PG_DIR, 'postmaster.pid'), 'utf8').split('\n')[0]);
  }
  try {
    let url = withDatabase(adminUrl, DB_NAME);
    if (REBUILD || !(await built(url))) {
      console.log(`building campaign ${CAMPAIGN}: ${DELIVERIES.toLocaleString('en-US')} deliveries, ${EVENTS.toLocaleString('en-US')} events …`);
      url = await freshDatabase(adminUrl, DB_NAME);
      await build(url);
    }
    const db = benchDb(url, { max: 1 });
    const env: NodeJS.ProcessEnv = { ...process.env, DATABASE_URL: url, MARKETER_HASH_SECRET: HASH_SECRET, NO_COLOR: '1', XDG_CACHE_HOME: cacheHome };
    const args = ['stats', String(CAMPAIGN), '--json', '--tz', 'Europe/Berlin'];
    const cases: { name: string; run: () => Promise<Run> }[] = [
      { name: 'node -e 0', run: () => timeProcess(['-e', '0'], env, ROOT) },
      { name: `marketer ${args.join(' ')}`, run: () => timeProcess([CLI, ...args], env, ROOT) },
      ...(BASELINE ? [{ name: 'the same, baseline checkout', run: () => timeProcess([path.join(BASELINE, 'bin', 'marketer.js'), ...args], env, BASELINE) }] : []),
      { name: 'the same, without the code cache', run: () => timeProcess([CLI, ...args], { ...env, NODE_DISABLE_COMPILE_CACHE: '1' }, ROOT) },
      {
        name: 'its queries alone (in-process)',
        run: async () => {
          const server0 = serverCpuMs();
          const t0 = performance.now();
          const c0 = process.cpuUsage();
          await campaignStats(db, CAMPAIGN, { timezone: 'Europe/Berlin' });
          const c = process.cpuUsage(c0);
          return { wall: performance.now() - t0, cpu: (c.user + c.system) / 1000, server: server0 === undefined ? undefined : serverCpuMs()! - server0 };
        },
      },
    ];
    // The answer must be the report (a failing command would time its error path).
    const report = JSON.parse((await timeProcess([CLI, ...args], env, ROOT)).stdout) as { recipients: number; opens: { total: number }; clicks: { total: number } };
    if (BASELINE) {
      const other = JSON.parse((await timeProcess([path.join(BASELINE, 'bin', 'marketer.js'), ...args], env, BASELINE)).stdout) as unknown;
      if (JSON.stringify(other) !== JSON.stringify(report)) console.log('NOTE: the baseline checkout prints a different report');
    }
    const loadBefore = load();
    const runs = cases.map(() => [] as Run[]);
    for (let i = 0; i < RUNS + 2; i++) {
      for (const [j, c] of cases.entries()) {
        const r = await c.run();
        if (i >= 2) runs[j]!.push(r);
      }
    }
    await db.destroy();
    console.log(`\nmarketer stats ${CAMPAIGN}: ${report.recipients.toLocaleString('en-US')} recipients, ${(report.opens.total + report.clicks.total).toLocaleString('en-US')} opens and clicks of ${EVENTS.toLocaleString('en-US')} events`);
    console.log(`runs: ${RUNS}, alternating; node ${process.version}; before: ${loadBefore}; after: ${load()}`);
    console.log(`${'case'.padEnd(50)} ${'wall median'.padStart(12)} ${'min'.padStart(8)} ${'CPU mean'.padStart(9)} ${'Postgres CPU'.padStart(13)}`);
    for (const [j, c] of cases.entries()) {
      const walls = runs[j]!.map((r) => r.wall);
      const server = runs[j]!.every((r) => r.server !== undefined) ? `${mean(runs[j]!.map((r) => r.server!)).toFixed(0)} ms` : '–';
      console.log(`${c.name.padEnd(50)} ${`${median(walls).toFixed(0)} ms`.padStart(12)} ${`${Math.min(...walls).toFixed(0)} ms`.padStart(8)} ${`${mean(runs[j]!.map((r) => r.cpu)).toFixed(0)} ms`.padStart(9)} ${server.padStart(13)}`);
    }
    console.log('(CPU: user + system of the process; Postgres CPU: of the server meanwhile, all its processes)');
    const whole = median(runs[1]!.map((r) => r.wall));
    console.log(`\nwhole process: ${whole.toFixed(0)} ms ${whole <= GOAL_MS ? `(goal ≤ ${GOAL_MS} ms met)` : `(ABOVE the ${GOAL_MS} ms goal)`}; node -e 0 in the same run: ${median(runs[0]!.map((r) => r.wall)).toFixed(0)} ms`);
  } finally {
    await server?.stop();
    rmSync(cacheHome, { recursive: true, force: true });
  }
}

if (!existsSync(path.join(ROOT, 'dist', 'cli', 'main.js'))) throw new Error('Build first: npm run build');
main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
