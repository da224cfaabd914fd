/**
 * bench/enqueue: enqueue one campaign (the example newsletter, waves in 8 zones) for N
 * subscribers, this checkout against another one, run alternately (ABAB) on one Postgres.
 *
 *   node --import tsx bench/enqueue.ts [--rows 1000000] [--rounds 3] [--baseline DIR]
 *
 * DIR is another checkout of marketer with its own node_modules (or a link to these), e.g.
 *   git archive main | tar -x -C /tmp/main && ln -s "$PWD/node_modules" /tmp/main/
 * Each side gets its own database, migrated by its own schema and seeded with the same rows;
 * each round empties the ledger, checkpoints (so neither side pays for the other's dirty
 * pages) and times that side's recordCampaign + enqueueDeliveries. Besides wall time it prints
 * the CPU the Postgres backend spent on the statement, which a shared machine's load changes
 * far less than the wall time.
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { freePort, startEmbedded } from '../src/db/embedded.js';
import type { Database } from '../src/db/types.js';
import { DATA_DIR, ROOT, argValue, benchDb, int, median, readCpuMs, withDatabase } from './lib.js';

const argv = process.argv.slice(2);
const ROWS = Number(argValue(argv, '--rows') ?? 1_000_000);
const ROUNDS = Number(argValue(argv, '--rounds') ?? 3);
const BASELINE = argValue(argv, '--baseline');
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Pacific/Chatham', 'America/St_Johns', 'Asia/Tokyo', 'Australia/Adelaide'];
const PG_DIR = path.join(DATA_DIR, `enqueue-pg-${process.pid}`);

/** What a side needs from its checkout, imported from that checkout's sources. */
interface Side {
  /** 'this' or 'base'. */
  name: string;
  root: string;
  url: string;
  // The modules' own types differ between checkouts: only these calls are made.
  /* eslint-disable @typescript-eslint/no-explicit-any */
  mod: { enqueue: any; campaigns: any; config: any; hash: any; migrate: any };
}

async function load(root: string) {
  const imp = (rel: string) => import(pathToFileURL(path.join(root, rel)).href);
  return {
    enqueue: await imp('src/sending/enqueue.ts'),
    campaigns: await imp('src/campaigns/index.ts'),
    config: await imp('src/config/config.ts'),
    hash: await imp('src/db/address-hash.ts'),
    migrate: await imp('src/db/migrate.ts'),
  };
}

async function prepare(adminUrl: string, label: string, root: string): Promise<Side> {
  const name = `bench_enqueue_${label}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = withDatabase(adminUrl, name);
  const mod = await load(root);
  const db = benchDb(url);
  await mod.migrate.migrate(db);
  await db.destroy();
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  await c.query(`INSERT INTO subscribers (email, first_name, timezone, tags)
    SELECT 'user' || i || '@example.com', 'User' || i, ($1::text[])[1 + i % $2], '{newsletter}'
    FROM generate_series(1, $3) i`, [ZONES, ZONES.length, ROWS]);
  await c.query('VACUUM ANALYZE subscribers');
  await c.end();
  return { name: label, root, url, mod };
}

interface Run { side: string; round: number; ms: number; pgCpuMs: number; rows: number; load: string }

async function runOnce(side: Side, round: number): Promise<Run> {
  const env = { ...process.env, DATABASE_URL: side.url, MARKETER_UNSUBSCRIBE_SECRET: 'bench-secret', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u' };
  const config = side.mod.config.loadConfig({ cwd: side.root, env });
  const db: Kysely<Database> = benchDb(side.url, { options: side.mod.hash.sessionOptions(side.mod.hash.addressHashKeys(config)) });
  try {
    await sql`TRUNCATE deliveries`.execute(db);
    await sql`DELETE FROM campaigns`.execute(db);
    await sql`VACUUM ANALYZE deliveries`.execute(db);
    await sql`CHECKPOINT`.execute(db);
    const pid = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(db)).rows[0]!.pid;
    const campaign = await side.mod.campaigns.loadCampaign(path.join(side.root, 'campaigns/weekly.yaml'), { ...config, databaseUrl: side.url });
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0]!;
    const cpu0 = readCpuMs(pid) ?? 0;
    const t0 = performance.now();
    await side.mod.enqueue.recordCampaign(db, campaign);
    const rows = (await side.mod.enqueue.enqueueDeliveries(db, campaign, new Date())) as number;
    const ms = performance.now() - t0;
    const pgCpuMs = (readCpuMs(pid) ?? 0) - cpu0;
    if (rows !== ROWS) throw new Error(`${side.name}: enqueued ${rows} rows, expected ${ROWS}`);
    return { side: side.name, round, ms, pgCpuMs, rows, load };
  } finally {
    await db.destroy();
  }
}

async function main(): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  const server = await startEmbedded({
    dataDir: PG_DIR, port: await freePort(), database: 'postgres',
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', shared_buffers: '256MB' },
  });
  const stop = async () => {
    await server.stop().catch(() => undefined);
    rmSync(PG_DIR, { recursive: true, force: true });
  };
  process.once('SIGINT', () => { void stop().then(() => process.exit(130)); });
  try {
    console.log(`Postgres: embedded (fsync off); ${int(ROWS)} subscribers in ${ZONES.length} zones; ${ROUNDS} rounds${BASELINE ? `, alternating with ${BASELINE}` : ''}\n`);
    const sides = [await prepare(server.url, 'this', ROOT)];
    if (BASELINE) sides.push(await prepare(server.url, 'base', path.resolve(BASELINE)));
    const runs: Run[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      // ABAB, starting with the other side every other round, so neither always goes first.
      const order = round % 2 === 1 ? sides : [...sides].reverse();
      for (const side of order) {
        const r = await runOnce(side, round);
        runs.push(r);
        console.log(`round ${round}  ${(side.name === 'this' ? 'this checkout' : 'baseline').padEnd(13)}  ${(r.ms / 1000).toFixed(2).padStart(6)} s wall  ${(r.pgCpuMs / 1000).toFixed(2).padStart(6)} s Postgres CPU  (load ${r.load})`);
      }
    }
    console.log('');
    for (const side of sides) {
      const mine = runs.filter((r) => r.side === side.name);
      const ms = median(mine.map((r) => r.ms));
      console.log(`${(side.name === 'this' ? 'this checkout' : 'baseline').padEnd(13)}  median ${(ms / 1000).toFixed(2)} s wall, ${(median(mine.map((r) => r.pgCpuMs)) / 1000).toFixed(2)} s Postgres CPU for ${int(ROWS)} rows${side.name === 'this' && ROWS === 1_000_000 ? ` (goal ≤ 10 s: ${ms <= 10_000 ? 'met' : 'MISSED'})` : ''}`);
    }
  } finally {
    await stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
