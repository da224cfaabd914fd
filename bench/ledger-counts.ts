/**
 * bench/ledger-counts: what the triggers that keep campaign_ledger_counts cost the send path's
 * ledger writes, as Postgres CPU per mail.
 *
 *   node --import tsx bench/ledger-counts.ts [--rows 60000] [--batch 64] [--rounds 4]
 *
 * Two databases on one embedded Postgres, both migrated by this checkout; in the second the
 * four count triggers on deliveries are dropped. Each holds one campaign of N queued, due
 * deliveries. A round sends a slice of each, alternately (ABAB, the side that goes first
 * changing every round): claimDeliveries of a batch, markAttempted, recordResults (every mail
 * `sent`), the three statements dispatch runs per batch, with no SES and no rendering. The
 * Postgres backend's CPU (/proc) over the slice, divided by the mails, is the figure; the
 * difference between the sides is what the counts cost per mail.
 *
 * Then the same for what ingest does to the ledger most: updates that set a first-event column
 * (opened_at) and move no row between statuses, 2,000 rows per statement, per updated row.
 */
import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { keysForSecret, sessionOptions } from '../src/db/address-hash.js';
import { freePort, startEmbedded } from '../src/db/embedded.js';
import type { Database } from '../src/db/types.js';
import { claimDeliveries, markAttempted, recordResults } from '../src/sending/ledger.js';
import { DATA_DIR, argValue, benchDb, int, median, readCpuMs, withDatabase } from './lib.js';

const argv = process.argv.slice(2);
const ROWS = Number(argValue(argv, '--rows') ?? 60_000);
const BATCH = Number(argValue(argv, '--batch') ?? 64);
const ROUNDS = Number(argValue(argv, '--rounds') ?? 4);
const PG_DIR = path.join(DATA_DIR, `ledger-counts-pg-${process.pid}`);
const ZONES = ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kathmandu'];

interface Side { name: string; db: Kysely<Database> }

async function prepare(adminUrl: string, name: string, counted: boolean): Promise<Side> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  // The claim re-checks suppression, which hashes addresses with the session's key.
  const db = benchDb(withDatabase(adminUrl, name), { options: sessionOptions(keysForSecret('bench-hash-secret-bench-hash-secret')) });
  const { migrate } = await import('../src/db/migrate.js');
  await migrate(db);
  if (!counted) {
    for (const t of ['inserted', 'updated', 'deleted', 'truncated']) await sql.raw(`DROP TRIGGER deliveries_count_${t} ON deliveries`).execute(db);
  }
  await sql`INSERT INTO campaigns (id, name, file, content_hash, status) VALUES (1, 'bench', 'campaigns/bench.yaml', 'x', 'running')`.execute(db);
  await sql`INSERT INTO subscribers (email, timezone) SELECT 'user' || i || '@example.com', (${ZONES}::text[])[1 + i % 4] FROM generate_series(1, ${ROWS}) i`.execute(db);
  await sql`INSERT INTO deliveries (campaign_id, subscriber_id, due_at, timezone) SELECT 1, id, now() - interval '1 minute', timezone FROM subscribers`.execute(db);
  await sql`VACUUM ANALYZE`.execute(db);
  return { name, db };
}

/** The backend serving the side's one pooled connection (a new one after an idle spell). */
const backend = async (side: Side) => (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(side.db)).rows[0]!.pid;

/** Send `mails` of the side's queue, batch by batch; Postgres CPU ms per mail. */
async function slice(side: Side, mails: number): Promise<number> {
  const pid = await backend(side);
  const cpu0 = readCpuMs(pid) ?? 0;
  let done = 0;
  while (done < mails) {
    const rows = await claimDeliveries(side.db, { worker: 'bench', limit: Math.min(BATCH, mails - done), now: new Date(), leaseSeconds: 300 });
    if (rows.length === 0) throw new Error(`${side.name}: the queue ran dry`);
    const ids = rows.map((r) => r.id);
    await markAttempted(side.db, 'bench', ids);
    await recordResults(side.db, 'bench', rows.map((r) => ({ id: r.id, status: 'sent' as const, messageId: `m-${r.id}`, at: new Date() })));
    done += rows.length;
  }
  return ((readCpuMs(pid) ?? 0) - cpu0) / mails;
}

/** Set opened_at on `rows` sent rows of the side, 2,000 per statement; Postgres CPU ms per row. */
async function opens(side: Side, rows: number): Promise<number> {
  const pid = await backend(side);
  const cpu0 = readCpuMs(pid) ?? 0;
  for (let done = 0; done < rows; done += 2000) {
    await sql`
      UPDATE deliveries d SET opened_at = now()
      FROM (SELECT id FROM deliveries WHERE campaign_id = 1 AND status = 'sent' AND opened_at IS NULL ORDER BY id LIMIT ${Math.min(2000, rows - done)}) u
      WHERE d.id = u.id`.execute(side.db);
  }
  return ((readCpuMs(pid) ?? 0) - cpu0) / rows;
}

async function main(): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  const server = await startEmbedded({
    dataDir: PG_DIR, port: await freePort(), database: 'postgres',
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', shared_buffers: '256MB' },
  });
  const sides: Side[] = [];
  try {
    sides.push(await prepare(server.url, 'bench_counted', true), await prepare(server.url, 'bench_uncounted', false));
    const per = Math.floor(ROWS / ROUNDS);
    console.log(`${int(ROWS)} due deliveries per side, batches of ${BATCH}, ${ROUNDS} rounds of ${int(per)} mails per side\n`);
    const results: Record<string, number[]> = { bench_counted: [], bench_uncounted: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? sides : [...sides].reverse();
      for (const side of order) {
        const load = (await import('node:os')).loadavg()[0]!.toFixed(2);
        const ms = await slice(side, per);
        results[side.name]!.push(ms);
        console.log(`round ${round}  ${side.name === 'bench_counted' ? 'with the counts   ' : 'without the counts'}  ${(ms * 1000).toFixed(1).padStart(6)} µs Postgres CPU per mail  (load ${load})`);
      }
    }
    const withCounts = median(results.bench_counted!);
    const without = median(results.bench_uncounted!);
    console.log(`\nmedian: ${(withCounts * 1000).toFixed(1)} µs with the counts, ${(without * 1000).toFixed(1)} µs without: ${((withCounts - without) * 1000).toFixed(1)} µs (${(((withCounts / without) - 1) * 100).toFixed(1)}%) per mail`);
    const opened: Record<string, number[]> = { bench_counted: [], bench_uncounted: [] };
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? sides : [...sides].reverse();
      for (const side of order) opened[side.name]!.push(await opens(side, Math.floor(per / 2)));
    }
    const o1 = median(opened.bench_counted!);
    const o0 = median(opened.bench_uncounted!);
    console.log(`first-event updates (ingest): ${(o1 * 1000).toFixed(1)} µs per row with the counts, ${(o0 * 1000).toFixed(1)} µs without: ${((o1 - o0) * 1000).toFixed(1)} µs per updated row`);
    const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM campaign_ledger_counts WHERE campaign_id = 1`.execute(sides[0]!.db);
    console.log(`campaign_ledger_counts rows of the campaign at the end: ${rows.rows[0]!.n}`);
  } finally {
    for (const s of sides) await s.db.destroy();
    await server.stop().catch(() => undefined);
    rmSync(PG_DIR, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
