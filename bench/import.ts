/**
 * `marketer import` against a hand-written psql baseline.
 *
 *   node --import tsx bench/import.ts [--rows N] [--rounds 3] [--build]
 *
 * Generates a realistic CSV (default 1,000,000 rows) in bench/.data, then, in each round, times:
 *   1. the built CLI, `node bin/marketer.js import <file> --json`, as a child process (wall clock
 *      and peak RSS from /proc/<pid>/status), into a freshly migrated database;
 *   2. the same load done by psql alone: `\copy` into a raw text table, the minimal cast into the
 *      same staging shape marketer uses, then marketer's own upsert SQL, into a second database;
 *   3. a re-import of the same file by marketer (every row unchanged).
 * Postgres is a throwaway embedded server under bench/.data (or BENCH_DATABASE_URL's server).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { loadavg } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { freePort, startEmbedded, type EmbeddedServer } from '../src/db/embedded.js';
import { keysForSecret, sessionOptions } from '../src/db/address-hash.js';
import { upsertSql, type ImportResult } from '../src/subscribers/import-subscribers.js';
import { CLI, DATA_DIR, ROOT, freshDatabase, int, mb, median, postmasterPid, runMeasured, secs, treeCpuMs } from './lib.js';

const PG_DIR = path.join(DATA_DIR, 'pg');
const MARKETER_DB = 'bench_marketer';
const BASELINE_DB = 'bench_baseline';
// Both sides must fall back to the same zone for rows with an unknown one.
const DEFAULT_ZONE = 'UTC';
const GOAL_RATIO = 2;
const GOAL_RSS_MB = 200;
const POLL_MS = 50;
const HASH_SECRET = 'bench-hash-secret';

// ---------------------------------------------------------------------------------------------
// Arguments

interface Args {
  rows: number;
  /** Rounds of marketer import, psql baseline, marketer re-import; medians are reported. */
  rounds: number;
  /** Rebuild dist/ with tsc before running, even when it exists. */
  build: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { rows: 1_000_000, rounds: 3, build: false };
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i];
    if (a === '--rows') {
      const n = Number((argv[i + 1] ?? '').replace(/_/g, ''));
      if (!Number.isInteger(n) || n < 1) throw new Error(`--rows needs a positive integer, got ${JSON.stringify(argv[i + 1])}`);
      args.rows = n;
      i += 1;
    } else if (a === '--rounds') {
      const n = Number(argv[i + 1]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--rounds needs a positive integer, got ${JSON.stringify(argv[i + 1])}`);
      args.rounds = n;
      i += 1;
    } else if (a === '--build') args.build = true;
    else throw new Error(`unknown argument ${JSON.stringify(a)} (usage: bench/import.ts [--rows N] [--rounds N] [--build])`);
  }
  return args;
}

// ---------------------------------------------------------------------------------------------
// CSV generation

const ZONES = [
  'America/New_York', 'America/Chicago', 'America/Denver', 'America/Los_Angeles', 'America/Sao_Paulo',
  'America/Mexico_City', 'America/Toronto', 'Europe/London', 'Europe/Berlin', 'Europe/Paris',
  'Europe/Madrid', 'Europe/Warsaw', 'Europe/Istanbul', 'Africa/Lagos', 'Asia/Kolkata',
  'Asia/Singapore', 'Asia/Tokyo', 'Asia/Shanghai', 'Australia/Sydney', 'Pacific/Auckland',
];
const FIRST = ['Ada', 'Grace', 'Alan', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Dennis', 'Radia', 'Edsger', 'Frances', 'Donald', 'Katherine', 'John', 'Hedy', 'Tim', 'Anita', 'Guido', 'Sophie', 'Niklaus', 'José', 'Zoë', 'Søren', 'Amélie'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Torvalds', 'Hamilton', 'Thompson', 'Liskov', 'Ritchie', 'Perlman', 'Dijkstra', 'Allen', 'Knuth', 'Johnson', 'McCarthy', 'Lamarr', 'Berners-Lee', 'Borg', 'van Rossum', 'Wilson', 'Wirth', 'García', "O'Neil", 'Müller', 'Nguyen'];
const DOMAINS = ['gmail.com', 'yahoo.com', 'outlook.com', 'hotmail.com', 'icloud.com', 'proton.me', 'gmx.de', 'web.de', 'orange.fr', 'example.com', 'acme.io', 'fastmail.com'];
const PLANS = ['free', 'free', 'free', 'pro', 'pro', 'team', 'enterprise'];

/** A small seeded PRNG (mulberry32), so every run benchmarks the same file. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A stateless hash, so a duplicate row can regenerate the person of an earlier row. */
function hash(i: number): number {
  let h = Math.imul(i ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function pick<T>(list: readonly T[], n: number): T {
  return list[n % list.length]!;
}

interface Person {
  first: string;
  last: string;
  local: string;
  domain: string;
}

function person(i: number): Person {
  const h = hash(i);
  const first = pick(FIRST, h);
  const last = pick(LAST, h >>> 8);
  // ASCII local part: real lists are mostly plain addresses; the names carry the UTF-8.
  const ascii = (s: string) => s.normalize('NFD').replace(/[^A-Za-z]/g, '').toLowerCase();
  const local = `${ascii(first)}.${ascii(last)}${i}${h % 17 === 0 ? '+news' : ''}`;
  return { first, last, local, domain: pick(DOMAINS, h >>> 16) };
}

function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

interface CsvStats {
  rows: number;
  bytes: number;
  badAddresses: number;
  duplicates: number;
  unknownZones: number;
  quoted: number;
}

/**
 * Write the CSV in chunks with backpressure: a million rows must not sit in memory at once.
 * The "malformed" rows are bad addresses (rejected) and unknown zones (imported with a warning):
 * broken CSV syntax (a stray quote, extra fields) would abort psql's \copy, so the baseline
 * could not load the same file.
 */
async function generateCsv(file: string, rows: number): Promise<CsvStats> {
  const rand = prng(42);
  const out = createWriteStream(file, { encoding: 'utf8' });
  const stats: CsvStats = { rows, bytes: 0, badAddresses: 0, duplicates: 0, unknownZones: 0, quoted: 0 };
  let chunk = 'email,first_name,last_name,timezone,tags,plan\n';
  for (let i = 0; i < rows; i += 1) {
    const r = rand();
    let p = person(i);
    let email = `${p.local}@${p.domain}`;
    if (r < 0.02) {
      stats.badAddresses += 1;
      const variants = [`${p.local}.${p.domain}`, `${p.local}@`, `${p.local} x@${p.domain}`, `${p.local}@@${p.domain}`, '', `${p.local}@${p.domain.replace('.', '..')}`];
      email = pick(variants, Math.floor(rand() * variants.length));
    } else if (r < 0.04 && i > 0) {
      // The same address again, later in the file and in another case: the last row wins.
      stats.duplicates += 1;
      p = person(Math.floor(rand() * i));
      email = `${p.local[0]!.toUpperCase()}${p.local.slice(1)}@${p.domain.toUpperCase()}`;
    }
    let zone = pick(ZONES, Math.floor(rand() * ZONES.length));
    if (rand() < 0.005) {
      stats.unknownZones += 1;
      zone = pick(['Mars/Olympus_Mons', 'EST5', 'Europe/Berlinn', 'GMT+25'], i);
    }
    let last = p.last;
    if (rand() < 0.01) last = `${last}, Jr.`; // a quoted field with the delimiter inside
    if (/[",]/.test(last)) stats.quoted += 1;
    const first = rand() < 0.03 ? '' : p.first;
    const tags = rand() < 0.3 ? 'newsletter;beta' : 'newsletter';
    chunk += `${csvCell(email)},${csvCell(first)},${csvCell(last)},${zone},${tags},${pick(PLANS, hash(i) >>> 4)}\n`;
    if (chunk.length >= 512 * 1024) {
      stats.bytes += Buffer.byteLength(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  stats.bytes += Buffer.byteLength(chunk);
  out.end(chunk);
  await once(out, 'close');
  return stats;
}

// ---------------------------------------------------------------------------------------------
// Databases


async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}


/** Start each timed run from a clean checkpoint, so one side does not pay for the other's WAL. */
async function checkpoint(url: string): Promise<void> {
  // Needs superuser on a BENCH_DATABASE_URL server; the run is still valid without it.
  await withClient(url, (c) => c.query('CHECKPOINT')).catch(() => undefined);
}

interface TableDigest {
  rows: number;
  digest: string;
}

/** An order-independent fingerprint of `subscribers`, to check that both loads agree. */
async function digestSubscribers(url: string): Promise<TableDigest> {
  return withClient(url, async (c) => {
    const { rows } = await c.query<{ n: string; digest: string | null }>(`
      SELECT count(*) AS n,
             sum(hashtextextended(concat_ws('|', email, first_name, last_name, timezone, status, tags::text, attributes::text), 0))::text AS digest
      FROM subscribers`);
    const r = rows[0]!;
    return { rows: Number(r.n), digest: r.digest ?? '0' };
  });
}

// ---------------------------------------------------------------------------------------------
// The marketer run

interface PhaseMarks {
  /** Milliseconds after spawn when the staging COPY, then the upsert, were first seen running. */
  copyAt?: number;
  upsertAt?: number;
}

/**
 * Where the child's time goes, seen from the server: poll pg_stat_activity for the import's
 * COPY and its upsert. Cheaper and less intrusive than instrumenting the CLI.
 */
function watchPhases(url: string, database: string, t0: number): { stop: () => Promise<PhaseMarks> } {
  const marks: PhaseMarks = {};
  let stopped = false;
  const client = new pg.Client({ connectionString: url });
  const loop = (async () => {
    await client.connect();
    while (!stopped) {
      const { rows } = await client.query<{ query: string }>(
        "SELECT query FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid()",
        [database],
      );
      const now = performance.now() - t0;
      for (const { query } of rows) {
        if (marks.copyAt === undefined && query.trimStart().startsWith('COPY import_staging')) marks.copyAt = now;
        if (marks.upsertAt === undefined && query.includes('FROM import_staging ORDER BY lower(email)')) marks.upsertAt = now;
      }
      await sleep(POLL_MS);
    }
    await client.end();
  })();
  return {
    stop: async () => {
      stopped = true;
      await loop;
      return marks;
    },
  };
}

type ImportJson = Pick<ImportResult, 'rows' | 'inserted' | 'updated' | 'unchanged' | 'suppressed' | 'rejected' | 'warnings' | 'duplicates'>;

interface MarketerRun {
  ms: number;
  /** CPU of the marketer process, and of the Postgres cluster meanwhile (0 on a server of BENCH_DATABASE_URL). */
  cpuMs: number;
  pgCpuMs: number;
  peakRssKiB: number;
  peakTreePssKiB: number;
  result: ImportJson;
  phases: PhaseMarks;
}


/** The embedded cluster's postmaster, whose CPU and memory are counted with marketer's. */
let pgPid: number | undefined;
let activeChild: { kill: (signal?: NodeJS.Signals) => boolean } | undefined;

async function runMarketer(file: string, url: string, database: string): Promise<MarketerRun> {
  await checkpoint(url);
  const phases = watchPhases(url, database, performance.now());
  const pg0 = pgPid === undefined ? 0 : treeCpuMs(pgPid);
  const run = await runMeasured(['import', file, '--json'], {
    treeRoots: pgPid === undefined ? [] : [pgPid],
    // cwd outside the repository: no marketer.yaml there can change what is measured.
    cwd: DATA_DIR,
    env: { ...process.env, DATABASE_URL: url, MARKETER_HASH_SECRET: HASH_SECRET, MARKETER_DEFAULT_TIMEZONE: DEFAULT_ZONE },
    onSpawn: (child) => { activeChild = child; },
  });
  activeChild = undefined;
  const marks = await phases.stop();
  if (run.code !== 0) throw new Error(`marketer import exited with ${run.code}:\n${run.stderr || run.stdout}`);
  const pgCpuMs = pgPid === undefined ? 0 : treeCpuMs(pgPid) - pg0;
  return { ms: run.ms, cpuMs: run.cpuMs, pgCpuMs, peakRssKiB: run.peakRssKiB, peakTreePssKiB: run.peakTreePssKiB, result: JSON.parse(run.stdout) as ImportJson, phases: marks };
}

// ---------------------------------------------------------------------------------------------
// The psql baseline

interface BaselineRun {
  ms: number;
  /** CPU of the Postgres cluster meanwhile (psql itself only passes bytes along). */
  pgCpuMs: number;
  /** Server-side milliseconds of each step. */
  copyMs: number;
  stageMs: number;
  upsertMs: number;
  inserted: number;
  distinct: number;
}

function sqlLiteral(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

/**
 * The same work marketer does, with nothing but psql: \copy the CSV as raw text, do the minimal
 * checks and casts marketer does in JavaScript (address shape and lower-cased domain, known zone,
 * tag split, the extra column into attributes) into the same staging table, then the same upsert.
 * One transaction, like marketer.
 */
function baselineScript(file: string): string {
  // psql 15 has no \bind, so the upsert's parameters (default zone, --source) become literals.
  const upsert = upsertSql();
  if (upsert.split('$1').length !== 2 || upsert.split('$2').length !== 2 || upsert.includes('$3')) {
    throw new Error('upsertSql changed: expected exactly two parameters ($1 the default zone, $2 the source)');
  }
  const mark = (name: string) => `SELECT 'mark', '${name}', extract(epoch FROM clock_timestamp());`;
  return `
CREATE TEMP TABLE raw_import (
  n bigint GENERATED ALWAYS AS IDENTITY, email text, first_name text, last_name text, timezone text, tags text, plan text
) ON COMMIT DROP;
${mark('start')}
\\copy raw_import (email, first_name, last_name, timezone, tags, plan) FROM ${sqlLiteral(file)} WITH (FORMAT csv, HEADER true)
${mark('copied')}
CREATE TEMP TABLE import_staging (
  line integer NOT NULL, email text NOT NULL, first_name text, last_name text, timezone text,
  tags text[], attributes jsonb, source text, consent_at timestamptz, consent_ip text, consent_text text
) ON COMMIT DROP;
INSERT INTO import_staging (line, email, first_name, last_name, timezone, tags, attributes)
SELECT r.n + 1,
       split_part(a.email, '@', 1) || '@' || lower(split_part(a.email, '@', 2)),
       nullif(trim(r.first_name), ''), nullif(trim(r.last_name), ''), z.name,
       coalesce(string_to_array(nullif(trim(r.tags), ''), ';'), '{}'),
       CASE WHEN nullif(trim(r.plan), '') IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('plan', trim(r.plan)) END
FROM raw_import r
CROSS JOIN LATERAL (SELECT trim(r.email) AS email) a
LEFT JOIN (SELECT DISTINCT ON (lower(name)) lower(name) AS key, name FROM pg_timezone_names WHERE name NOT LIKE 'posix/%') z
       ON z.key = lower(trim(r.timezone))
-- Exactly one @ (so split_part above is safe), a dot-atom-ish local part, a dotted domain.
WHERE a.email ~ '^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\\.[A-Za-z0-9-]+)+$';
${mark('staged')}
${upsert.trim().replace('$1', sqlLiteral(DEFAULT_ZONE)).replace('$2', 'NULL')};
${mark('merged')}
`;
}

async function runBaseline(file: string, url: string): Promise<BaselineRun> {
  const script = path.join(DATA_DIR, 'baseline.sql');
  writeFileSync(script, baselineScript(file));
  await checkpoint(url);
  const pg0 = pgPid === undefined ? 0 : treeCpuMs(pgPid);
  const t0 = performance.now();
  const child = spawn('psql', [url, '-X', '-q', '-A', '-t', '-F', '|', '-v', 'ON_ERROR_STOP=1', '-1', '-f', script], {
    // The upsert checks suppressions by keyed hash, with the key marketer's session sets.
    env: { ...process.env, PGOPTIONS: sessionOptions(keysForSecret(HASH_SECRET)) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  activeChild = child;
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const [code] = (await once(child, 'close')) as [number | null];
  const ms = performance.now() - t0;
  const pgCpuMs = pgPid === undefined ? 0 : treeCpuMs(pgPid) - pg0;
  activeChild = undefined;
  rmSync(script, { force: true });
  if (code !== 0) throw new Error(`psql baseline exited with ${code}:\n${stderr}`);
  const marks = new Map<string, number>();
  let counts: number[] | undefined;
  for (const line of stdout.split('\n')) {
    const m = /^mark\|(\w+)\|([\d.]+)$/.exec(line);
    if (m) marks.set(m[1]!, Number(m[2]) * 1000);
    else if (/^\d+\|\d+\|\d+\|\d+$/.test(line)) counts = line.split('|').map(Number);
  }
  const at = (name: string) => {
    const v = marks.get(name);
    if (v === undefined) throw new Error(`psql output lacks the "${name}" mark:\n${stdout}`);
    return v;
  };
  if (!counts) throw new Error(`psql output lacks the upsert counts:\n${stdout}`);
  return {
    ms,
    pgCpuMs,
    copyMs: at('copied') - at('start'),
    stageMs: at('staged') - at('copied'),
    upsertMs: at('merged') - at('staged'),
    distinct: counts[0]!,
    inserted: counts[2]!,
  };
}

function hasPsql(): boolean {
  return spawnSync('psql', ['--version'], { stdio: 'ignore' }).status === 0;
}

// ---------------------------------------------------------------------------------------------
// Output

const rate = (rows: number, ms: number) => `${int(rows / (ms / 1000))} rows/s`;

function printTable(rows: string[][]): void {
  const w = [0, 1, 2, 3].map((c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(`  ${r[0]!.padEnd(w[0]!)}  ${r[1]!.padStart(w[1]!)}  ${r[2]!.padStart(w[2]!)}  ${r[3] ?? ''}`);
}

function phaseLine(run: MarketerRun): string {
  const { copyAt, upsertAt } = run.phases;
  if (copyAt === undefined || upsertAt === undefined) return 'phases not observed (run too short for the 50 ms poll)';
  return `start-up + migrate ${secs(copyAt)}, read/check/COPY ${secs(upsertAt - copyAt)}, upsert + commit + exit ${secs(run.ms - upsertAt)}`;
}

// ---------------------------------------------------------------------------------------------

function ensureBuilt(build: boolean): string {
  const main = path.join(ROOT, 'dist', 'cli', 'main.js');
  if (build || !existsSync(main)) {
    console.log(build ? 'Building dist/ (--build)…' : 'dist/ is missing: building it…');
    // As npm run build: tsc, then the one-file CLI the bin runs (scripts/bundle.mjs).
    const r = spawnSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('npm run build failed');
    return 'built just now';
  }
  // An older build still benchmarks fine, but the figures then describe that build.
  const built = statSync(path.join(ROOT, 'dist', 'subscribers', 'import-subscribers.js')).mtimeMs;
  const stale = ['import-subscribers.ts', 'read-csv.ts', 'address-hygiene.ts']
    .filter((f) => statSync(path.join(ROOT, 'src', 'subscribers', f)).mtimeMs > built);
  return `existing build, ${new Date(statSync(main).mtimeMs).toISOString()}${stale.length ? `; older than src/subscribers/{${stale.join(',')}}: pass --build to rebuild` : ''}`;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  mkdirSync(DATA_DIR, { recursive: true });
  const csv = path.join(DATA_DIR, `subscribers-${args.rows}.csv`);
  let server: EmbeddedServer | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    activeChild?.kill('SIGTERM');
    rmSync(csv, { force: true });
    if (server) {
      await server.stop();
      rmSync(PG_DIR, { recursive: true, force: true });
    }
  };
  process.once('SIGINT', () => {
    console.error('\nInterrupted: cleaning up…');
    void cleanup().finally(() => process.exit(130));
  });

  try {
    console.log(`CLI: ${path.relative(ROOT, CLI)} → dist/ (${ensureBuilt(args.build)})`);

    let adminUrl = process.env.BENCH_DATABASE_URL;
    if (adminUrl) console.log(`Postgres: BENCH_DATABASE_URL (its own settings)`);
    else {
      // A live server left by an interrupted run is reused by startEmbedded; only a dead
      // cluster is wiped, so each run starts from an empty one.
      if (!existsSync(path.join(PG_DIR, 'postmaster.pid'))) rmSync(PG_DIR, { recursive: true, force: true });
      server = await startEmbedded({
        dataDir: PG_DIR,
        port: await freePort(),
        database: 'postgres',
        // A disposable cluster, the same for both sides: durability would only add noise.
        settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off' },
      });
      adminUrl = server.url;
      pgPid = postmasterPid(PG_DIR);
      console.log(`Postgres: embedded in ${path.relative(ROOT, PG_DIR)} (fsync, synchronous_commit and full_page_writes off, for both sides)`);
    }
    const psql = hasPsql();
    if (!psql) console.log('psql is not on PATH: baseline skipped.');

    const t = performance.now();
    const stats = await generateCsv(csv, args.rows);
    console.log(
      `CSV: ${int(stats.rows)} rows, ${(stats.bytes / 1024 / 1024).toFixed(1)} MB in ${secs(performance.now() - t)} ` +
        `(${int(stats.badAddresses)} bad addresses, ${int(stats.duplicates)} duplicates, ${int(stats.unknownZones)} unknown zones, ${int(stats.quoted)} quoted fields)`,
    );
    console.log(`Load: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

    // Rounds of marketer import, baseline, marketer re-import: whatever else the machine does
    // hits all three alike, and the medians are compared.
    const firsts: MarketerRun[] = [];
    const agains: MarketerRun[] = [];
    const baselines: BaselineRun[] = [];
    for (let round = 1; round <= args.rounds; round++) {
      const marketerUrl = await freshDatabase(adminUrl, MARKETER_DB);
      const first = await runMarketer(csv, marketerUrl, MARKETER_DB);
      firsts.push(first);
      const r = first.result;
      console.log(`round ${round}: marketer import ${secs(first.ms)}: ${r.inserted} inserted, ${r.updated} updated, ${r.rejected} rejected, ${r.duplicates} duplicates, ${r.warnings} warnings`);
      console.log(`  ${phaseLine(first)}`);
      let baselineUrl: string | undefined;
      if (psql) {
        baselineUrl = await freshDatabase(adminUrl, BASELINE_DB);
        const baseline = await runBaseline(csv, baselineUrl);
        baselines.push(baseline);
        console.log(`  psql baseline ${secs(baseline.ms)}: ${baseline.inserted} inserted of ${baseline.distinct} distinct; \\copy ${secs(baseline.copyMs)}, check/cast ${secs(baseline.stageMs)}, upsert ${secs(baseline.upsertMs)}`);
      }
      const again = await runMarketer(csv, marketerUrl, MARKETER_DB);
      agains.push(again);
      console.log(`  marketer re-import ${secs(again.ms)}: ${again.result.inserted} inserted, ${again.result.updated} updated, ${again.result.unchanged} unchanged`);
      if (baselineUrl && round === 1) {
        const [m, b] = await Promise.all([digestSubscribers(marketerUrl), digestSubscribers(baselineUrl)]);
        console.log(
          m.rows === b.rows && m.digest === b.digest
            ? `  check: both databases hold the same ${int(m.rows)} subscribers.`
            : `  check: the loads DIFFER: marketer ${int(m.rows)} rows (digest ${m.digest}), baseline ${int(b.rows)} rows (digest ${b.digest}).`,
        );
      }
    }

    const n = stats.rows;
    const firstMs = median(firsts.map((x) => x.ms));
    const againMs = median(agains.map((x) => x.ms));
    const baseMs = baselines.length ? median(baselines.map((x) => x.ms)) : undefined;
    const perMillion = (ms: number) => `${((ms / 1000) * (1_000_000 / n)).toFixed(1)} CPU-s/1M`;
    const cpu = (runs: { cpuMs?: number; pgCpuMs: number }[]) =>
      `${perMillion(median(runs.map((x) => (x.cpuMs ?? 0) + x.pgCpuMs)))} (marketer ${perMillion(median(runs.map((x) => x.cpuMs ?? 0)))}, Postgres ${perMillion(median(runs.map((x) => x.pgCpuMs)))})`;
    console.log(`\nResults (${int(n)} rows, medians of ${args.rounds} rounds; CPU-s per 1M rows ${pgPid === undefined ? 'of marketer only: Postgres is not ours to watch' : 'of marketer and of the Postgres cluster'}):`);
    printTable([
      ['', 'time', 'throughput', 'CPU'],
      ['marketer import', secs(firstMs), rate(n, firstMs), cpu(firsts)],
      ['psql \\copy baseline', baseMs === undefined ? 'skipped' : secs(baseMs), baseMs === undefined ? '-' : rate(n, baseMs), baselines.length ? `${perMillion(median(baselines.map((x) => x.pgCpuMs)))} (Postgres)` : '-'],
      ['marketer re-import (unchanged)', secs(againMs), rate(n, againMs), cpu(agains)],
    ]);
    const ratio = baseMs === undefined ? undefined : firstMs / baseMs;
    console.log(
      `  ratio marketer/baseline: ${ratio === undefined ? 'n/a (no psql)' : `${ratio.toFixed(2)}×`} (goal ≤ ${GOAL_RATIO}×: ` +
        `${ratio === undefined ? 'not measured' : ratio <= GOAL_RATIO ? 'met' : 'MISSED'})`,
    );
    console.log(`  re-import / import: ${(againMs / firstMs).toFixed(2)}× (goal ≤ 1: ${againMs <= firstMs ? 'met' : 'MISSED'})`);
    const peak = Math.max(...firsts.map((x) => x.peakRssKiB), ...agains.map((x) => x.peakRssKiB));
    const tree = Math.max(...firsts.map((x) => x.peakTreePssKiB), ...agains.map((x) => x.peakTreePssKiB));
    console.log(`  peak RSS: marketer ${mb(peak)} (goal < ${GOAL_RSS_MB} MB: ${peak / 1024 < GOAL_RSS_MB ? 'met' : 'MISSED'}); with Postgres (sum of Pss) ${mb(tree)}`);
    console.log(`Load: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  } finally {
    if (process.env.BENCH_DATABASE_URL) {
      // Another's server: leave it as found.
      const url = process.env.BENCH_DATABASE_URL;
      await withClient(url, async (c) => {
        for (const db of [MARKETER_DB, BASELINE_DB]) await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(db)}`);
      }).catch(() => undefined);
    }
    await cleanup();
  }
}

main().then(
  () => { process.exitCode = 0; },
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  },
);
