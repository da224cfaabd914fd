/**
 * Start-up time of the CLI, against `node -e 0` (Node's own start) measured in the same run.
 *
 *   node --import tsx bench/startup.ts [--runs 30] [--baseline /path/to/other/checkout]
 *
 * For --version and --help: from spawn to exit. For a command, from spawn to its first line of
 * work, then the process is stopped:
 *   - stats and import: the moment the command connects to the database (DATABASE_URL points at
 *     a socket this bench listens on), when everything it needs to send its first query is loaded;
 *   - send and validate, whose first work is reading campaign files: the moment the command's
 *     action starts (the line MARKETER_DEBUG=startup prints).
 * Each case is timed by wall clock and by CPU (user + system of the child, read from this
 * process's reaped-children times in /proc/self/stat, in 10 ms ticks: the mean over the runs is
 * exact to well under a tick). CPU is the figure that survives a machine shared with other work.
 *
 * Medians of --runs runs, after warm-up runs so the file cache is warm for every case alike. Run
 * `npm run build` first (the CLI runs from dist/). With --baseline, the same cases run against
 * another built checkout too (say, the commit before a change), alternating run by run (ABAB), so
 * both see the same machine load.
 */
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import path from 'node:path';
import { CLI, ROOT } from './lib.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 30;
const baselineArg = process.argv.indexOf('--baseline');
const BASELINE = baselineArg > 0 ? path.resolve(process.argv[baselineArg + 1]!) : undefined;

/** A "database" that records connections and never answers: the clock stops at the connect. */
const sockets = new Set<Socket>();
let onConnect: (() => void) | undefined;
const fakeDb = createServer((s) => {
  sockets.add(s);
  s.on('error', () => {});
  s.on('close', () => sockets.delete(s));
  onConnect?.();
});
await new Promise<void>((resolve) => fakeDb.listen(0, '127.0.0.1', resolve));
const DATABASE_URL = `postgres://bench@127.0.0.1:${(fakeDb.address() as AddressInfo).port}/bench`;
const SECRETS = { MARKETER_HASH_SECRET: 'bench-secret-bench-secret-bench-secret', MARKETER_UNSUBSCRIBE_SECRET: 'bench-secret-bench-secret-bench-secret' };

interface Case {
  name: string;
  args: string[];
  /** Stop at the first connection to the database, or at the command's action. */
  until?: 'database' | 'action';
  env?: Record<string, string>;
  /** Where to run it (default: this checkout). */
  cwd?: string;
}

const work = { env: { DATABASE_URL, ...SECRETS } };
const cases: Case[] = [
  { name: 'node -e 0 (baseline)', args: ['-e', '0'] },
  { name: 'marketer --version', args: [CLI, '--version'] },
  { name: 'marketer --help', args: [CLI, '--help'] },
  { name: 'marketer stats --help', args: [CLI, 'stats', '--help'] },
  { name: 'stats 1 (to first query)', args: [CLI, 'stats', '1'], until: 'database', ...work },
  { name: 'import (to first query)', args: [CLI, 'import', 'subscribers.example.csv'], until: 'database', ...work },
  { name: 'send (to first work)', args: [CLI, 'send', 'campaigns/weekly.yaml', '--dry-run'], until: 'action', ...work },
  { name: 'validate (to first work)', args: [CLI, 'validate', 'campaigns/weekly.yaml'], until: 'action', ...work },
];

/** The case run by the CLI of another checkout (its bin/ and dist/), in that checkout. */
function against(c: Case, root: string): Case {
  return { ...c, args: c.args.map((a) => (a === CLI ? path.join(root, 'bin', 'marketer.js') : a)), cwd: root };
}

/** CPU time (user + system) of this process's reaped children, in ms. */
function childrenCpuMs(): number {
  // Fields after the command name: cutime and cstime are the 14th and 15th (stat(5) 16 and 17).
  const fields = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /s, '').split(' ');
  return ((Number(fields[13]) + Number(fields[14])) * 1000) / TICKS;
}
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface Run { wall: number; cpu: number }

function once(c: Case): Promise<Run> {
  return new Promise((resolve, reject) => {
    const cpu0 = childrenCpuMs();
    const started = process.hrtime.bigint();
    let wall: number | undefined;
    const child = spawn(process.execPath, c.args, {
      cwd: c.cwd ?? ROOT,
      env: { ...process.env, ...c.env, MARKETER_DEBUG: c.until === 'action' ? 'startup' : '', NO_COLOR: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    const reached = () => {
      if (wall !== undefined) return;
      wall = Number(process.hrtime.bigint() - started) / 1e6;
      child.kill('SIGKILL');
    };
    if (c.until === 'database') onConnect = reached;
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (c.until === 'action' && /^startup: /m.test(err)) reached();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      onConnect = undefined;
      for (const s of sockets) s.destroy();
      if (c.until && wall === undefined) return reject(new Error(`${c.name}: exited (${code}) before reaching its first work:\n${err}`));
      wall ??= Number(process.hrtime.bigint() - started) / 1e6;
      // The child is reaped before 'close', so its CPU is in our children's times now.
      resolve({ wall, cpu: childrenCpuMs() - cpu0 });
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

interface Result { name: string; median: number; min: number; p90: number; cpu: number }
const summary = (name: string, runs: Run[]): Result => {
  const sorted = runs.map((r) => r.wall).sort((a, b) => a - b);
  return { name, median: median(sorted), min: sorted[0]!, p90: sorted[Math.floor(sorted.length * 0.9)]!, cpu: mean(runs.map((r) => r.cpu)) };
};
const load = () => execFileSync('uptime', { encoding: 'utf8' }).trim().replace(/.*load average/, 'load average');
const loadBefore = load();
const results: Result[] = [];
const baseline: Result[] = [];
for (const c of cases) {
  const other = BASELINE && c.args.includes(CLI) ? against(c, BASELINE) : undefined;
  for (const x of other ? [c, other, c, other] : [c, c]) await once(x);
  const runs: Run[] = [];
  const otherRuns: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await once(c));
    if (other) otherRuns.push(await once(other));
  }
  results.push(summary(c.name, runs));
  if (other) baseline.push(summary(c.name, otherRuns));
}
fakeDb.close();
const base = results[0]!;
console.log(`runs per case: ${RUNS}; node ${process.version}; before: ${loadBefore}; after: ${load()}`);
const f = (ms: number) => `${ms.toFixed(0)} ms`.padStart(8);
const table = (title: string, rows: Result[]) => {
  console.log(`\n${title}`);
  console.log(`${'case'.padEnd(28)} ${'median'.padStart(8)} ${'min'.padStart(8)} ${'p90'.padStart(8)} ${'over node'.padStart(10)} ${'CPU'.padStart(8)} ${'over node'.padStart(10)}`);
  for (const r of rows) {
    console.log(`${r.name.padEnd(28)} ${f(r.median)} ${f(r.min)} ${f(r.p90)} ${`+${(r.median - base.median).toFixed(0)} ms`.padStart(10)} ${f(r.cpu)} ${`+${(r.cpu - base.cpu).toFixed(0)} ms`.padStart(10)}`);
  }
};
table(`this checkout (${ROOT}); wall: median, min, p90; CPU: mean user+sys`, results);
if (BASELINE) {
  table(`baseline (${BASELINE}), run alternately with the above`, [base, ...baseline]);
  console.log('\nratio this/baseline:');
  console.log(`${'case'.padEnd(28)} ${'wall'.padStart(8)} ${'CPU'.padStart(8)}`);
  for (const b of baseline) {
    const r = results.find((x) => x.name === b.name)!;
    console.log(`${b.name.padEnd(28)} ${(r.median / b.median).toFixed(2).padStart(8)} ${(r.cpu / b.cpu).toFixed(2).padStart(8)}`);
  }
}
