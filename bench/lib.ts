import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { migrate } from '../src/db/migrate.js';
import type { Database } from '../src/db/types.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DATA_DIR = path.join(ROOT, 'bench', '.data');
export const CLI = path.join(ROOT, 'bin', 'marketer.js');

/** Newest modification time of the files under `dir`, in ms (0 when it does not exist). */
function newestMtime(dir: string): number {
  let newest = 0;
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * The CLI that benches spawn runs from dist/: build it when any source is newer, so that a
 * figure never describes older code than the checkout.
 */
export function ensureBuilt(): void {
  if (newestMtime(path.join(ROOT, 'src')) <= newestMtime(path.join(ROOT, 'dist'))) return;
  process.stderr.write('Building dist/ (sources are newer) …\n');
  const r = spawnSync(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(ROOT, 'tsconfig.json')], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('tsc failed: the benches need a build of the current sources');
  // The one-file bundles of the start-up path (scripts/bundle.mjs), as npm run build makes them.
  const b = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'bundle.mjs')], { stdio: 'inherit' });
  if (b.status !== 0) throw new Error('scripts/bundle.mjs failed');
}
ensureBuilt();

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/**
 * A Kysely handle for a bench database: with `options` (the address-hash session settings that
 * enqueue needs), and an error listener, so that a server stopping under an idle connection is
 * not an unhandled error that hides the real one.
 */
export function benchDb(url: string, options?: { max?: number; options?: string }): Kysely<Database> {
  const pool = new pg.Pool({ connectionString: url, max: options?.max ?? 1, options: options?.options });
  pool.on('error', () => {});
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

/** Drop, create and migrate a database on the server of `adminUrl`; returns its URL. */
export async function freshDatabase(adminUrl: string, database: string): Promise<string> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    await c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(database)} WITH (FORCE)`);
    await c.query(`CREATE DATABASE ${c.escapeIdentifier(database)}`);
  } finally {
    await c.end();
  }
  const url = withDatabase(adminUrl, database);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, max: 1 }) }) });
  try {
    await migrate(db);
  } finally {
    await db.destroy();
  }
  return url;
}

/** The larger of VmHWM and VmRSS of a live process, in KiB; undefined once it is gone. */
export function readRss(pid: number): number | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0);
  return Math.max(kib('VmHWM'), kib('VmRSS'));
}

/** VmRSS alone (the current resident set), in KiB. */
export function readCurrentRss(pid: number): number | undefined {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return undefined;
  }
}

export interface MeasuredRun {
  code: number | null;
  ms: number;
  peakRssKiB: number;
  /** VmRSS every 50 ms: [ms since start, KiB]. */
  samples: [number, number][];
  /** CPU time (user + system) of the process, from /proc every 50 ms: short by at most 50 ms. */
  cpuMs: number;
  /** Peak proportional set size of the process tree plus `treeRoots` (e.g. Postgres), in KiB. */
  peakTreePssKiB: number;
  stdout: string;
  stderr: string;
}

/**
 * Run the built CLI as its own node process (not via npx or a shell, so the pid polled is
 * marketer's) and record wall time and peak RSS. VmHWM is the kernel's high-water mark, so a
 * 50 ms poll misses nothing but the last few milliseconds.
 */
export async function runMeasured(
  args: string[],
  o: { cwd: string; env: NodeJS.ProcessEnv; onSpawn?: (child: ChildProcess) => void; treeRoots?: number[] },
): Promise<MeasuredRun> {
  const t0 = performance.now();
  const reaped0 = reapedChildrenCpuMs();
  // BENCH_NODE_ARGS passes flags to the measured process only (e.g. --trace-gc, --cpu-prof).
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, CLI, ...args], { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'] });
  o.onSpawn?.(child);
  let peak = 0;
  let cpuMs = 0;
  let peakTreePssKiB = 0;
  let tick = 0;
  const samples: [number, number][] = [];
  const timer = setInterval(() => {
    if (child.pid === undefined) return;
    cpuMs = readCpuMs(child.pid) ?? cpuMs;
    // Reading smaps of a whole tree costs more than a status line: every 250 ms.
    if (tick++ % 5 === 0) peakTreePssKiB = Math.max(peakTreePssKiB, treePssKiB([child.pid, ...(o.treeRoots ?? [])]));
    peak = Math.max(peak, readRss(child.pid) ?? 0);
    const now = readCurrentRss(child.pid);
    if (now !== undefined) samples.push([performance.now() - t0, now]);
  }, 50);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  let ms = 0;
  child.once('exit', () => { ms = performance.now() - t0; });
  const [code] = (await once(child, 'close')) as [number | null];
  clearInterval(timer);
  // Once reaped, the kernel has added the child's whole CPU time to ours (cutime/cstime): exact,
  // where the 50 ms poll misses the last moments. Only when no other child was reaped meanwhile
  // would the difference be the child's alone, so it is a check on the poll, not a replacement.
  const reaped = reapedChildrenCpuMs() - reaped0;
  if (reaped >= cpuMs && reaped < cpuMs + 1_000) cpuMs = reaped;
  return { code, ms, peakRssKiB: peak, peakTreePssKiB, samples, stdout, stderr, cpuMs };
}

/** User + system CPU time of a live process in ms (Linux clock ticks are 10 ms); undefined once it is gone. */
export function readCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return undefined;
  }
}

/** CPU time (user + system, ms) of this process's children that have ended and been reaped. */
export function reapedChildrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[13]) + Number(f[14])) * 10;
}

/** The pids of `root` and all its descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // ended meanwhile
    }
  }
  const out: number[] = [];
  const walk = (pid: number) => {
    out.push(pid);
    for (const c of children.get(pid) ?? []) walk(c);
  };
  walk(root);
  return out;
}

/**
 * Memory of process trees as the sum of proportional set sizes (Pss): shared pages, such as
 * Postgres's shared buffers mapped by every backend, are counted once in total rather than once
 * per process, which summing RSS would do. In KiB.
 */
export function treePssKiB(roots: number[]): number {
  let kib = 0;
  for (const pid of new Set(roots.flatMap(processTree))) {
    try {
      kib += Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      // ended meanwhile
    }
  }
  return kib;
}

/**
 * CPU time (user + system, ms) a process tree has used so far: the root's own and its reaped
 * children's (Postgres backends that have ended are reaped by the postmaster), plus each live
 * descendant's. The difference of two readings is what the tree spent in between.
 */
export function treeCpuMs(root: number): number {
  let ms = 0;
  for (const pid of processTree(root)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ms += (Number(f[11]) + Number(f[12]) + (pid === root ? Number(f[13]) + Number(f[14]) : 0)) * 10;
    } catch {
      // ended meanwhile
    }
  }
  return ms;
}

/** The postmaster's pid of a running cluster (first line of postmaster.pid in its data folder). */
export function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The median of a non-empty list. */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export const int = (n: number) => Math.round(n).toLocaleString('en-US');
export const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
export const mb = (kib: number) => `${(kib / 1024).toFixed(0)} MB`;

export function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}
