/**
 * Start-up time of the CLI, against `node -e 0` (Node's own start) measured in the same run.
 *
 *   node --import tsx bench/startup.ts [--runs 30] [--baseline /path/to/other/checkout]
 *
 * For --version and --help: from spawn to exit, with the output to a pipe (as hyperfine runs
 * them), and again on a pseudo-terminal through script(1), beside `node -e 0` run the same way.
 * For a command, from spawn to its first line of
 * work, then the process is stopped:
 *   - stats and import: the moment the command connects to the database (DATABASE_URL points at
 *     a socket this bench listens on), when everything it needs to send its first query is loaded;
 *   - send and validate, whose first work is reading campaign files: the moment the command's
 *     action starts (the line MARKETER_DEBUG=startup prints).
 * Each case is timed by wall clock and by CPU (user + system of the child, read from this
 * process's reaped-children times in /proc/self/stat, in 10 ms ticks: the mean over the runs is
 * exact to well under a tick). CPU is the figure that survives a machine shared with other work.
 *
 * When the environment sets NODE_EXTRA_CA_CERTS, Node 20 parses that bundle (and its own root
 * certificates) before it runs any JavaScript, in every process, whether or not it ever makes a
 * TLS connection. The cases then also run without that variable, alternating with the runs as
 * given, and a second table shows them: that is the start-up of a machine that does not set it.
 *
 * The CLI keeps V8's compiled code per command between runs (Node 22+ itself; on Node 20
 * bin/code-cache.js, in a folder of this run's own here). Before the timed runs each command runs
 * once to its end (against a closed port: it stops at the connection error) to write it; the
 * rows "no code cache" time the same command without it (NODE_DISABLE_COMPILE_CACHE=1), as on
 * the first run after an install or an upgrade.
 *
 * Medians of --runs runs, after warm-up runs so the file cache is warm for every case alike. Run
 * `npm run build` first (the CLI runs from dist/). With --baseline, the same cases run against
 * another built checkout too (say, the commit before a change), alternating run by run (ABAB), so
 * both see the same machine load.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
  /** Environment variables removed for this case. */
  unset?: string[];
  /** Run on a pseudo-terminal (through script(1)), as someone at a terminal runs it. */
  terminal?: boolean;
}

const CACHE_HOME = mkdtempSync(path.join(tmpdir(), 'marketer-bench-cache-'));
const work = { env: { DATABASE_URL, ...SECRETS, XDG_CACHE_HOME: CACHE_HOME } };
const cold = { DATABASE_URL, ...SECRETS, XDG_CACHE_HOME: CACHE_HOME, NODE_DISABLE_COMPILE_CACHE: '1' };
const commands: Case[] = [
  { name: 'stats 1 (to first query)', args: [CLI, 'stats', '1'], until: 'database', ...work },
  { name: 'import (to first query)', args: [CLI, 'import', 'subscribers.example.csv'], until: 'database', ...work },
  { name: 'send (to first work)', args: [CLI, 'send', 'campaigns/weekly.yaml', '--dry-run'], until: 'action', ...work },
  { name: 'validate (to first work)', args: [CLI, 'validate', 'campaigns/weekly.yaml'], until: 'action', ...work },
];
const cases: Case[] = [
  { name: 'node -e 0 (baseline)', args: ['-e', '0'] },
  { name: 'marketer --version', args: [CLI, '--version'] },
  { name: 'marketer --help', args: [CLI, '--help'] },
  { name: 'marketer stats --help', args: [CLI, 'stats', '--help'] },
  // On a terminal, a help page needs its width, which only Node's terminal stream reads: that
  // loads Node's stream and net modules, which output to a pipe or a file does without. The
  // terminal cases go through script(1), node -e 0 too, and are compared with each other.
  { name: 'node -e 0, on a terminal', args: ['-e', '0'], terminal: true },
  { name: '--version, on a terminal', args: [CLI, '--version'], terminal: true },
  { name: '--help, on a terminal', args: [CLI, '--help'], terminal: true },
  ...commands,
  ...commands.map((c) => ({ ...c, name: `${c.name.replace(/ \(.*/, '')}, no code cache`, env: cold })),
];

/** A closed port: a command pointed at it stops at its connection error, having run to its end. */
const probe = createServer();
await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
const CLOSED_URL = `postgres://bench@127.0.0.1:${(probe.address() as AddressInfo).port}/bench`;
await new Promise((resolve) => probe.close(resolve));

/** Run a command to its end, so that the CLI writes its code cache for it. */
function prime(c: Case): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, c.args, { cwd: c.cwd ?? ROOT, env: { ...envFor(c), DATABASE_URL: CLOSED_URL }, stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', () => resolve());
  });
}

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

function envFor(c: Case): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...c.env, MARKETER_DEBUG: c.until === 'action' ? 'startup' : '', NO_COLOR: '1' };
  for (const name of c.unset ?? []) delete env[name];
  return env;
}
const EXTRA_CA = process.env.NODE_EXTRA_CA_CERTS ? ['NODE_EXTRA_CA_CERTS'] : undefined;

function once(c: Case): Promise<Run> {
  return new Promise((resolve, reject) => {
    const cpu0 = childrenCpuMs();
    const started = process.hrtime.bigint();
    let wall: number | undefined;
    const sh = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
    const [file, args] = c.terminal ? ['script', ['-qec', [process.execPath, ...c.args].map(sh).join(' '), '/dev/null']] : [process.execPath, c.args];
    const child = spawn(file, args, {
      cwd: c.cwd ?? ROOT,
      env: envFor(c),
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
const bare: Result[] = [];
const bareBaseline: Result[] = [];
for (const c of cases) {
  const other = BASELINE && c.args.includes(CLI) ? against(c, BASELINE) : undefined;
  // Each case, then (if set) the same without NODE_EXTRA_CA_CERTS, run by run.
  const sides = [c, other, EXTRA_CA && { ...c, unset: EXTRA_CA }, EXTRA_CA && other && { ...other, unset: EXTRA_CA }];
  const runs: Run[][] = sides.map(() => []);
  for (const x of sides) if (x?.until && !x.env?.NODE_DISABLE_COMPILE_CACHE) await prime(x);
  for (const x of [...sides, ...sides]) if (x) await once(x);
  for (let i = 0; i < RUNS; i++) {
    for (const [k, x] of sides.entries()) if (x) runs[k]!.push(await once(x));
  }
  results.push(summary(c.name, runs[0]!));
  if (other) baseline.push(summary(c.name, runs[1]!));
  if (EXTRA_CA) bare.push(summary(c.name, runs[2]!));
  if (EXTRA_CA && other) bareBaseline.push(summary(c.name, runs[3]!));
}
fakeDb.close();
rmSync(CACHE_HOME, { recursive: true, force: true });
console.log(`runs per case: ${RUNS}; node ${process.version}; before: ${loadBefore}; after: ${load()}`);
const f = (ms: number) => `${ms.toFixed(0)} ms`.padStart(8);
const table = (title: string, rows: Result[]) => {
  const base = rows[0]!;
  console.log(`\n${title}`);
  console.log(`${'case'.padEnd(28)} ${'median'.padStart(8)} ${'min'.padStart(8)} ${'p90'.padStart(8)} ${'over node'.padStart(10)} ${'CPU'.padStart(8)} ${'over node'.padStart(10)}`);
  for (const r of rows) {
    const over = (ms: number) => `${ms < 0 ? '' : '+'}${ms.toFixed(0)} ms`.padStart(10);
    console.log(`${r.name.padEnd(28)} ${f(r.median)} ${f(r.min)} ${f(r.p90)} ${over(r.median - base.median)} ${f(r.cpu)} ${over(r.cpu - base.cpu)}`);
  }
};
const onTerminal = (rows: Result[]) => rows.filter((r) => r.name.endsWith(', on a terminal'));
const offTerminal = (rows: Result[]) => rows.filter((r) => !r.name.endsWith(', on a terminal'));
table(`this checkout (${ROOT}); wall: median, min, p90; CPU: mean user+sys`, offTerminal(results));
table('the same on a pseudo-terminal (script(1), counted in both)', onTerminal(results));
const ratios = (ours: Result[], theirs: Result[]) => {
  console.log('\nratio this/baseline:');
  console.log(`${'case'.padEnd(28)} ${'wall'.padStart(8)} ${'CPU'.padStart(8)}`);
  for (const b of theirs) {
    const r = ours.find((x) => x.name === b.name)!;
    console.log(`${b.name.padEnd(28)} ${(r.median / b.median).toFixed(2).padStart(8)} ${(r.cpu / b.cpu).toFixed(2).padStart(8)}`);
  }
};
if (BASELINE) {
  table(`baseline (${BASELINE}), run alternately with the above`, [results[0]!, ...offTerminal(baseline)]);
  table('the baseline on a pseudo-terminal', [onTerminal(results)[0]!, ...onTerminal(baseline)]);
  ratios(results, baseline);
}
if (EXTRA_CA) {
  const cost = results[0]!.median - bare[0]!.median;
  console.log(`\nThis environment sets NODE_EXTRA_CA_CERTS: every node process parses ${process.env.NODE_EXTRA_CA_CERTS} before any JavaScript runs (node -e 0: +${cost.toFixed(0)} ms).`);
  table('this checkout, without NODE_EXTRA_CA_CERTS (run alternately with the above)', offTerminal(bare));
  table('the same on a pseudo-terminal', onTerminal(bare));
  if (BASELINE) {
    table(`baseline (${BASELINE}), without NODE_EXTRA_CA_CERTS`, [bare[0]!, ...offTerminal(bareBaseline)]);
    table('the baseline on a pseudo-terminal, without NODE_EXTRA_CA_CERTS', [onTerminal(bare)[0]!, ...onTerminal(bareBaseline)]);
    ratios(bare, bareBaseline);
  }
}
