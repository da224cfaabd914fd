/**
 * Template compile cost: the example campaign compiled cold (a fresh process: MJML not loaded,
 * nothing cached), warm (MJML loaded, the template new to the cache) and cached (its MJML output
 * in .marketer/cache); then `marketer validate` of generated campaigns, each with its own
 * template, with the cache empty and with it filled. Baselines in the same run: `node -e 0`
 * (Node's own start) and a bare `mjml2html` call in a fresh process (import mjml, compile once).
 * Every round runs each case once, in turn (ABAB…), and the figures are medians over the rounds,
 * wall-clock beside the CPU-seconds of the process (all its threads), which machine load moves
 * much less. The CLI and the compile run from dist/ (bench/lib.ts builds it when src/ is newer).
 *
 *   node --import tsx bench/compile.ts [--rounds 5] [--campaigns 50]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { argValue, CLI, ROOT } from './lib.js';

const ROUNDS = Number(argValue(process.argv, '--rounds') ?? 5);
const CAMPAIGNS = Number(argValue(process.argv, '--campaigns') ?? 50);
const MJML_URL = pathToFileURL(createRequire(path.join(ROOT, 'package.json')).resolve('mjml')).href;
const DIST = (p: string) => pathToFileURL(path.join(ROOT, 'dist', p)).href;
const ENV = { ...process.env, MARKETER_TRANSPORT: 'outbox', MARKETER_UNSUBSCRIBE_SECRET: 'bench-secret', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u', NO_COLOR: '1' };

// A process's CPU time (every thread: process.resourceUsage is getrusage(RUSAGE_SELF)) and peak
// RSS, written by the process itself as it exits, so nothing is lost to polling.
const RUSAGE_HOOK = `data:text/javascript,${encodeURIComponent(`
import { writeFileSync } from 'node:fs';
process.on('exit', () => {
  const u = process.resourceUsage();
  if (process.env.BENCH_RUSAGE) writeFileSync(process.env.BENCH_RUSAGE, JSON.stringify({ cpuS: (u.userCPUTime + u.systemCPUTime) / 1e6, maxRssMb: u.maxRSS / 1024 }));
});`)}`;

interface Run {
  wallMs: number;
  cpuS: number;
  maxRssMb: number;
  stdout: string;
}

async function run(args: string[], cwd: string): Promise<Run> {
  const usageFile = path.join(tmpdir(), `marketer-bench-rusage-${process.pid}.json`);
  rmSync(usageFile, { force: true });
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', RUSAGE_HOOK, ...args], { cwd, env: { ...ENV, BENCH_RUSAGE: usageFile }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const [code] = (await once(child, 'close')) as [number | null];
  const wallMs = performance.now() - started;
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}:\n${stderr}`);
  const usage = JSON.parse(readFileSync(usageFile, 'utf8')) as { cpuS: number; maxRssMb: number };
  rmSync(usageFile, { force: true });
  return { wallMs, ...usage, stdout };
}

// In a fresh process: the bare library, import and one compile of the example template.
const BARE_MJML = `
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
const t0 = performance.now();
const { default: mjml2html } = await import(${JSON.stringify(MJML_URL)});
const t1 = performance.now();
const file = ${JSON.stringify(path.join(ROOT, 'templates/weekly.mjml'))};
await mjml2html(readFileSync(file, 'utf8'), { validationLevel: 'soft', filePath: file, ignoreIncludes: false, includePath: ${JSON.stringify(ROOT)} });
const t2 = performance.now();
const warm = [];
const cpu0 = process.cpuUsage();
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  await mjml2html(readFileSync(file, 'utf8') + '<!-- ' + i + ' -->', { validationLevel: 'soft', filePath: file, ignoreIncludes: false, includePath: ${JSON.stringify(ROOT)} });
  warm.push(performance.now() - t);
}
const cpu = process.cpuUsage(cpu0);
warm.sort((a, b) => a - b);
console.log(JSON.stringify({ importMs: t1 - t0, firstMs: t2 - t1, warmMs: warm[2], warmCpuMs: (cpu.user + cpu.system) / 1000 / 5 }));
`;

// In a fresh process: marketer's whole campaign compile (MJML in its worker, link decoration,
// text part, Nunjucks compile, the sample check). Cold: first compile of the process with an
// empty cache. Warm: the template changed by a comment each time, so MJML compiles it. Cached:
// the same campaign again. Then the resident set once the worker has ended.
const MARKETER_COMPILE = (project: string) => `
import { performance } from 'node:perf_hooks';
const { compileCampaign, loadCampaign } = await import(${JSON.stringify(DIST('campaigns/index.js'))});
const { loadConfig } = await import(${JSON.stringify(DIST('config/config.js'))});
const { MJML_IDLE_MS, mjmlWorkerRunning } = await import(${JSON.stringify(DIST('campaigns/run-mjml.js'))});
const config = loadConfig({ cwd: ${JSON.stringify(project)}, env: process.env });
const campaign = await loadCampaign(${JSON.stringify(path.join(project, 'campaigns/weekly.yaml'))}, config);
const rssBefore = process.memoryUsage().rss;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
let t = performance.now();
let c = await compileCampaign(campaign, config);
const coldMs = performance.now() - t;
if (c.cached) throw new Error('cold compile came from the cache');
const warm = [];
let cpu0 = process.cpuUsage();
for (let i = 0; i < 7; i++) {
  const changed = { ...campaign, sources: [{ ...campaign.sources[0], text: campaign.sources[0].text + '<!-- ' + i + ' -->' }, ...campaign.sources.slice(1)] };
  t = performance.now();
  c = await compileCampaign(changed, config);
  warm.push(performance.now() - t);
  if (c.cached) throw new Error('warm compile came from the cache');
}
const warmCpu = process.cpuUsage(cpu0);
const cached = [];
cpu0 = process.cpuUsage();
for (let i = 0; i < 7; i++) {
  t = performance.now();
  c = await compileCampaign(campaign, config);
  cached.push(performance.now() - t);
  if (!c.cached) throw new Error('cached compile was compiled');
}
const cachedCpu = process.cpuUsage(cpu0);
const rssLoaded = process.memoryUsage().rss;
while (mjmlWorkerRunning()) await new Promise((r) => setTimeout(r, 50));
globalThis.gc?.();
await new Promise((r) => setTimeout(r, 200));
const perRun = (u) => (u.user + u.system) / 1000 / 7;
console.log(JSON.stringify({ coldMs, warmMs: median(warm), cachedMs: median(cached), warmCpuMs: perRun(warmCpu), cachedCpuMs: perRun(cachedCpu), rssBeforeMb: rssBefore / 1048576, rssLoadedMb: rssLoaded / 1048576, rssAfterMb: process.memoryUsage().rss / 1048576 }));
`;

/** A project with the example's partials and `count` campaigns, each its own template. */
function generatedProject(count: number): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'marketer-bench-compile-'));
  cpSync(path.join(ROOT, 'templates'), path.join(dir, 'templates'), { recursive: true });
  mkdirSync(path.join(dir, 'campaigns'));
  const template = readFileSync(path.join(ROOT, 'templates/weekly.mjml'), 'utf8');
  const yaml = readFileSync(path.join(ROOT, 'campaigns/weekly.yaml'), 'utf8');
  cpSync(path.join(ROOT, 'campaigns/weekly.yaml'), path.join(dir, 'campaigns/weekly.yaml'));
  for (let i = 1; i < count; i++) {
    // Each template differs (a comment suffices for MJML to compile it anew).
    writeFileSync(path.join(dir, `templates/weekly-${i}.mjml`), `${template}\n<!-- issue ${i} -->\n`);
    writeFileSync(path.join(dir, `campaigns/weekly-${i}.yaml`), yaml.replace(/^id: \d+/m, `id: ${1000 + i}`).replace('templates/weekly.mjml', `templates/weekly-${i}.mjml`));
  }
  return dir;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const loadBefore = load();
console.log(`${new Date().toISOString()} · ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'} · ${(totalmem() / 2 ** 30).toFixed(0)} GB · Node ${process.version} · load ${loadBefore}`);

const project = generatedProject(CAMPAIGNS);
const cacheDir = path.join(project, '.marketer', 'cache');
try {
  const node0: Run[] = [];
  const bare: (Run & { importMs: number; firstMs: number; warmMs: number; warmCpuMs: number })[] = [];
  const compile: (Run & { coldMs: number; warmMs: number; cachedMs: number; warmCpuMs: number; cachedCpuMs: number; rssBeforeMb: number; rssLoadedMb: number; rssAfterMb: number })[] = [];
  const coldValidate: (Run & { compile: { mjmlLoads: number; compiled: number; cached: number } })[] = [];
  const warmValidate: typeof coldValidate = [];
  const script = (name: string, text: string) => {
    const file = path.join(project, name);
    writeFileSync(file, text);
    return file;
  };
  const bareFile = script('bare-mjml.mjs', BARE_MJML);
  const compileFile = script('marketer-compile.mjs', MARKETER_COMPILE(project));
  const validateJson = (r: Run) => JSON.parse(r.stdout) as { ok: boolean; compile: { mjmlLoads: number; compiled: number; cached: number } };
  for (let round = 0; round < ROUNDS; round++) {
    node0.push(await run(['-e', '0'], project));
    let r = await run([bareFile], ROOT);
    bare.push({ ...r, ...JSON.parse(r.stdout) });
    rmSync(cacheDir, { recursive: true, force: true });
    r = await run(['--expose-gc', compileFile], project);
    compile.push({ ...r, ...JSON.parse(r.stdout) });
    rmSync(cacheDir, { recursive: true, force: true });
    r = await run([CLI, 'validate', '--json', '--no-summary'], project);
    coldValidate.push({ ...r, compile: validateJson(r).compile });
    r = await run([CLI, 'validate', '--json', '--no-summary'], project);
    warmValidate.push({ ...r, compile: validateJson(r).compile });
    process.stderr.write(`round ${round + 1}/${ROUNDS} done (load ${load()})\n`);
  }
  const wall = (rs: Run[]) => `${f1(median(rs.map((r) => r.wallMs)))} ms wall, ${f2(median(rs.map((r) => r.cpuS)))} CPU-s, peak RSS ${f1(median(rs.map((r) => r.maxRssMb)))} MB`;
  console.log(`\nmedians of ${ROUNDS} rounds, each case once per round in turn`);
  console.log(`node -e 0 (baseline):                         ${wall(node0)}`);
  console.log(`bare mjml2html, fresh process (baseline):     ${wall(bare)}; import ${f1(median(bare.map((b) => b.importMs)))} ms, first compile ${f1(median(bare.map((b) => b.firstMs)))} ms, warm compile ${f1(median(bare.map((b) => b.warmMs)))} ms (${f1(median(bare.map((b) => b.warmCpuMs)))} CPU-ms)`);
  console.log(`example campaign, whole marketer compile:     cold ${f1(median(compile.map((c) => c.coldMs)))} ms, warm ${f1(median(compile.map((c) => c.warmMs)))} ms (${f1(median(compile.map((c) => c.warmCpuMs)))} CPU-ms, both threads; goal ≤ 60 ms), cached ${f1(median(compile.map((c) => c.cachedMs)))} ms (${f1(median(compile.map((c) => c.cachedCpuMs)))} CPU-ms)`);
  console.log(`  that process:                               ${wall(compile)}`);
  console.log(`  RSS: ${f1(median(compile.map((c) => c.rssBeforeMb)))} MB before, ${f1(median(compile.map((c) => c.rssLoadedMb)))} MB with MJML loaded, ${f1(median(compile.map((c) => c.rssAfterMb)))} MB once the worker ended`);
  const loads = (rs: typeof coldValidate) => [...new Set(rs.map((r) => `${r.compile.mjmlLoads} load(s), ${r.compile.compiled} compiled, ${r.compile.cached} cached`))].join(' / ');
  console.log(`validate ${CAMPAIGNS} campaigns, cache empty:        ${wall(coldValidate)} (goal ≤ 5 s); ${loads(coldValidate)}`);
  console.log(`validate ${CAMPAIGNS} campaigns, cache filled:       ${wall(warmValidate)}; ${loads(warmValidate)}`);
  const nodeMs = median(node0.map((r) => r.wallMs));
  console.log(`  beyond node's own start: cold ${f1(median(coldValidate.map((r) => r.wallMs)) - nodeMs)} ms, cached ${f1(median(warmValidate.map((r) => r.wallMs)) - nodeMs)} ms`);
  console.log(`load average before / after: ${loadBefore} / ${load()}`);
} finally {
  rmSync(project, { recursive: true, force: true });
}
