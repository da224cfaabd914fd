/**
 * bench/audience: the audience query of a 1M-subscriber list with three conditions (an attribute
 * in a list, a numeric attribute compared as a number, a time-zone prefix) on top of the tag,
 * against the tags-only audience of the same list (the baseline), alternating ABAB in one run
 * so both see the same machine load. Prints each query's median and best time, the Postgres
 * backend's CPU time for each on one core (what load does not stretch), the EXPLAIN
 * (ANALYZE) plan of the conditions query, the plan command's per-condition counts, and `uptime`.
 *
 *   node --import tsx bench/audience.ts [--rows 1000000] [--rounds 5]
 *
 * The query is enqueue's audience (active AND matchesAudience, as count(*)); enqueue's suppression
 * check (a keyed hash per match) is timed once beside it. On
 * subscribers built in SQL: 80% tagged newsletter, 5% churned, plans pro/team/free/none at
 * 10/10/60/20%, seats 0–49 as text (1% "n/a"), eight zones of which three are in Europe.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { sql, type Kysely } from 'kysely';
import { audienceFunnel } from '../src/audience/audience-funnel.js';
import type { AudienceSpec } from '../src/audience/types.js';
import { loadCampaign } from '../src/campaigns/index.js';
import { loadConfig } from '../src/config/config.js';
import { addressHashKeys, sessionOptions } from '../src/db/address-hash.js';
import { freePort, startEmbedded } from '../src/db/embedded.js';
import type { Database } from '../src/db/types.js';
import { isSuppressed, matchesAudience } from '../src/sending/audience.js';
import { DATA_DIR, ROOT, argValue, benchDb, freshDatabase, int, readCpuMs } from './lib.js';

const argv = process.argv.slice(2);
const ROWS = Number(argValue(argv, '--rows') ?? 1_000_000);
const ROUNDS = Number(argValue(argv, '--rounds') ?? 5);
const PG_DIR = path.join(DATA_DIR, `audience-pg-${process.pid}`);
const ZONES = ['Europe/Berlin', 'Europe/Paris', 'Europe/Lisbon', 'America/New_York', 'America/Chicago', 'Asia/Tokyo', 'Asia/Kathmandu', 'UTC'];
const BASELINE = 'audience: { tags: [newsletter] }\n';
const CONDITIONS = `audience:
  tags: [newsletter]
  where:
    - { attribute: plan, in: [pro, team] }
    - { attribute: seats, gte: 5 }
    - { field: timezone, starts_with: "Europe/" }
`;

const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim().replace(/.*load average/, 'load average');

async function seed(url: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  await c.connect();
  await c.query(`INSERT INTO subscribers (email, timezone, tags, attributes)
    SELECT 'user' || i || '@example.com', ($1::text[])[1 + i % 8],
           CASE WHEN i % 20 = 0 THEN '{newsletter,churned}'::text[] WHEN i % 5 = 0 THEN '{other}'::text[] ELSE '{newsletter}'::text[] END,
           jsonb_strip_nulls(jsonb_build_object(
             'plan', (ARRAY['pro', 'team', 'free', 'free', 'free', 'free', 'free', 'free', NULL, NULL])[1 + (i / 7) % 10],
             'seats', CASE WHEN i % 100 = 0 THEN 'n/a' ELSE ((i::bigint * 7919) % 50)::text END,
             'company', 'Company ' || (i % 5000)))
    FROM generate_series(1, $2) i`, [ZONES, ROWS]);
  await c.query('VACUUM ANALYZE subscribers');
  await c.end();
}

async function audienceOf(yaml: string, env: NodeJS.ProcessEnv): Promise<AudienceSpec> {
  const dir = mkdtempSync(path.join(tmpdir(), 'marketer-bench-audience-'));
  mkdirSync(path.join(dir, 'campaigns'));
  mkdirSync(path.join(dir, 'templates'));
  writeFileSync(path.join(dir, 'templates', 't.mjml'), '<mjml><mj-body><mj-section><mj-column><mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text></mj-column></mj-section></mj-body></mjml>\n');
  writeFileSync(path.join(dir, 'campaigns', 'c.yaml'), `id: 1\nname: Bench\nsubject: Hello\nfrom: "News <news@example.com>"\ntemplate: templates/t.mjml\n${yaml}`);
  const config = loadConfig({ cwd: dir, env });
  return (await loadCampaign(path.join(dir, 'campaigns', 'c.yaml'), config)).audience;
}

/** The audience query: active subscribers the audience selects. */
const countQuery = (a: AudienceSpec) => sql<{ n: number }>`
  SELECT count(*)::int AS n FROM subscribers s WHERE s.status = 'active' AND ${matchesAudience(a)}`;
/** What enqueue selects: the same, less suppressed addresses (a keyed hash of each match). */
const enqueueQuery = (a: AudienceSpec) => sql<{ n: number }>`
  SELECT count(*)::int AS n FROM subscribers s WHERE s.status = 'active' AND ${matchesAudience(a)} AND NOT ${isSuppressed}`;

async function timed(db: Kysely<Database>, a: AudienceSpec, query = countQuery): Promise<{ ms: number; n: number }> {
  const t0 = performance.now();
  const r = await query(a).execute(db);
  return { ms: performance.now() - t0, n: r.rows[0]!.n };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  const server = await startEmbedded({
    dataDir: PG_DIR, port: await freePort(), database: 'postgres',
    settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', shared_buffers: '256MB' },
  });
  try {
    const url = await freshDatabase(server.url, 'bench_audience');
    const env = { ...process.env, DATABASE_URL: url, MARKETER_UNSUBSCRIBE_SECRET: 'bench-secret', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u' };
    const t0 = performance.now();
    await seed(url);
    console.log(`${int(ROWS)} subscribers built in ${((performance.now() - t0) / 1000).toFixed(1)} s; ${uptime()}`);
    const baseline = await audienceOf(BASELINE, env);
    const conditions = await audienceOf(CONDITIONS, env);
    const db = benchDb(url, { options: sessionOptions(addressHashKeys(loadConfig({ cwd: ROOT, env }))) });
    try {
      // One warm-up of each, so neither pays for a cold cache alone.
      await timed(db, baseline);
      await timed(db, conditions);
      const a: number[] = [];
      const b: number[] = [];
      let counts = { baseline: 0, conditions: 0 };
      for (let round = 0; round < ROUNDS; round++) {
        const x = await timed(db, baseline);
        const y = await timed(db, conditions);
        a.push(x.ms);
        b.push(y.ms);
        counts = { baseline: x.n, conditions: y.n };
      }
      console.log(`\n${ROUNDS} rounds, alternating (ABAB); ${uptime()}`);
      console.log(`${'audience'.padEnd(44)} ${'matches'.padStart(9)} ${'median'.padStart(9)} ${'best'.padStart(9)}`);
      const line = (name: string, n: number, xs: number[]) => console.log(`${name.padEnd(44)} ${int(n).padStart(9)} ${`${median(xs).toFixed(0)} ms`.padStart(9)} ${`${Math.min(...xs).toFixed(0)} ms`.padStart(9)}`);
      line('A tags: [newsletter] (baseline)', counts.baseline, a);
      line('B tags + plan in, seats gte 5, Europe/', counts.conditions, b);
      console.log(`B/A: ${(median(b) / median(a)).toFixed(2)}× the tags-only query; under 1 s: ${median(b) < 1000 ? 'yes' : 'NO'}`);

      // The same queries on one core (no parallel workers), as CPU time of the Postgres backend
      // from /proc: the machine's load stretches wall time, far less the CPU a query needs.
      await sql`SET max_parallel_workers_per_gather = 0`.execute(db);
      const pid = (await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(db)).rows[0]!.pid;
      const cpuOf = async (x: AudienceSpec) => {
        const before = readCpuMs(pid) ?? 0;
        await countQuery(x).execute(db);
        return (readCpuMs(pid) ?? 0) - before;
      };
      const ca: number[] = [];
      const cb: number[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        ca.push(await cpuOf(baseline));
        cb.push(await cpuOf(conditions));
      }
      await sql`RESET max_parallel_workers_per_gather`.execute(db);
      console.log(`\nOne core (max_parallel_workers_per_gather = 0), Postgres backend CPU, median of ${ROUNDS} (ABAB); ${uptime()}`);
      console.log(`  A ${median(ca)} CPU-ms, B ${median(cb)} CPU-ms: B/A ${(median(cb) / Math.max(1, median(ca))).toFixed(2)}×; B under 1 CPU-s: ${median(cb) < 1000 ? 'yes' : 'NO'}`);

      const e = await timed(db, conditions, enqueueQuery);
      console.log(`B as enqueue selects it (also checking suppression): ${e.ms.toFixed(0)} ms for ${int(e.n)}`);

      const explain = await sql<{ 'QUERY PLAN': string }>`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${countQuery(conditions)}`.execute(db);
      console.log('\nEXPLAIN ANALYZE of B:');
      for (const row of explain.rows) console.log(`  ${row['QUERY PLAN']}`);

      const f0 = performance.now();
      const funnel = await audienceFunnel(db, conditions, isSuppressed);
      console.log(`\nplan's per-condition counts of B in ${(performance.now() - f0).toFixed(0)} ms:`);
      for (const s of funnel) console.log(`  ${int(s.removed).padStart(9)} removed, ${int(s.remaining).padStart(9)} left  ${s.condition}`);
      console.log(`\n${uptime()}`);
    } finally {
      await db.destroy();
    }
  } finally {
    await server.stop();
    rmSync(PG_DIR, { recursive: true, force: true });
  }
}

await main();
