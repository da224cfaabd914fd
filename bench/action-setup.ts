/**
 * How soon the scaffolded workflow's apply job starts sending on a warm cache, measured the way
 * action.yml runs it: action/cache-key.sh, the cache restore (the zstd tar that actions/cache
 * writes, of the production node_modules and dist/, extracted into the action's folder; the
 * download itself is not measured, its size is printed), action/install.sh (nothing to do on a
 * hit), then action/run.sh with command apply, until the SES endpoint (aws-ses-v2-local) holds
 * the first message. Baseline in the same run: `node -e 0`, the floor of any step that runs node.
 * Not measured: actions/checkout and actions/setup-node (Node 22 and 24 are in the hosted
 * runner's tool cache).
 *
 *   node --import tsx bench/action-setup.ts [--runs 3]
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort, startEmbedded } from '../src/db/embedded.js';
import { argValue, DATA_DIR, freshDatabase, ROOT, secs } from './lib.js';

const RUNS = Number(argValue(process.argv.slice(2), '--runs') ?? 3);
const PG_DIR = path.join(DATA_DIR, `action-pg-${process.pid}`);
const GIT_ENV = {
  ...process.env, GIT_AUTHOR_NAME: 'Bench', GIT_AUTHOR_EMAIL: 'bench@example.com', GIT_COMMITTER_NAME: 'Bench',
  GIT_COMMITTER_EMAIL: 'bench@example.com', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null',
};
const TEMPLATE = `<mjml><mj-body><mj-section><mj-column>
<mj-text>Hello {{ first_name | default('there') }}. <a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
</mj-column></mj-section></mj-body></mjml>
`;
const campaign = (id: number) => `id: ${id}\nname: Campaign ${id}\nsubject: "News ${id}"\nfrom: "Bench <news@example.com>"\ntemplate: templates/simple.mjml\n`;

const git = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, env: GIT_ENV, encoding: 'utf8' }).trim();
const timed = (fn: () => void) => {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** The action folder as a runner unpacks it (no node_modules, no dist), and the cache archive. */
function prepareAction(work: string): { actionDir: string; archive: string; key: string } {
  const actionDir = path.join(work, 'action-src');
  for (const f of ['action', 'bin', 'src', 'package.json', 'package-lock.json', 'tsconfig.json', 'schema.sql', 'schema-timescale.sql', 'action.yml']) {
    cpSync(path.join(ROOT, f), path.join(actionDir, f), { recursive: true });
  }
  const env = { ...process.env, GITHUB_ACTION_PATH: actionDir, RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64' };
  const key = /^key=(.*)$/m.exec(execFileSync('bash', [path.join(actionDir, 'action/cache-key.sh')], { env, encoding: 'utf8' }))![1]!;
  // What install.sh leaves for actions/cache to save: the production packages and the build.
  const staged = path.join(work, 'staged');
  const prod = execFileSync('npm', ['ls', '--omit=dev', '--all', '--parseable'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n').filter((p) => p.startsWith(path.join(ROOT, 'node_modules') + path.sep));
  for (const p of prod) cpSync(p, path.join(staged, path.relative(ROOT, p)), { recursive: true, dereference: false });
  cpSync(path.join(ROOT, 'node_modules', '.package-lock.json'), path.join(staged, 'node_modules', '.package-lock.json'));
  cpSync(path.join(ROOT, 'dist'), path.join(staged, 'dist'), { recursive: true });
  writeFileSync(path.join(staged, 'dist', '.build-key'), `${key}\n`);
  const archive = path.join(work, 'cache.tzst');
  // actions/cache: tar with zstd (-T0 --long=30).
  execFileSync('bash', ['-c', 'tar -cf - -C "$1" node_modules dist | zstd -q -T0 --long=30 -o "$2"', 'pack', staged, archive]);
  rmSync(staged, { recursive: true, force: true });
  return { actionDir, archive, key };
}

/** How many messages the SES endpoint holds; fails rather than guess. */
async function sesStore(endpoint: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http.get(`${endpoint}/store`, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => {
        try {
          resolve((JSON.parse(body) as { emails: unknown[] }).emails.length);
        } catch (err) {
          reject(err as Error);
        }
      });
    }).on('error', reject);
  });
}

/** Poll the endpoint, one request at a time, until it holds more than `before` messages. */
async function firstSendAfter(endpoint: string, before: number, done: () => boolean): Promise<number | undefined> {
  while (!done()) {
    const n = await sesStore(endpoint).catch(() => before);
    if (n > before) return performance.now();
    await new Promise((r) => setTimeout(r, 25));
  }
  return undefined;
}

async function main(): Promise<void> {
  mkdirSync(DATA_DIR, { recursive: true });
  const work = mkdtempSync(path.join(tmpdir(), 'marketer-action-bench-'));
  const server = await startEmbedded({ dataDir: PG_DIR, port: await freePort(), database: 'postgres', settings: { fsync: 'off', synchronous_commit: 'off' } });
  const sesPort = await freePort();
  const ses = spawn(process.execPath, [createRequire(import.meta.url).resolve('aws-ses-v2-local/dist/cli.js'), '--host', '127.0.0.1', '--port', String(sesPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => ses.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('server running')) resolve(); }));
  const endpoint = `http://127.0.0.1:${sesPort}`;
  try {
    const url = await freshDatabase(server.url, 'bench_action');
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`INSERT INTO subscribers (email, first_name, timezone, tags) SELECT 'user' || i || '@example.com', 'User' || i, 'UTC', '{newsletter}' FROM generate_series(1, 12) i`);
    await c.end();

    const { actionDir, archive, key } = prepareAction(work);
    console.log(`Cache archive (production node_modules + dist, tar + zstd): ${(statSync(archive).size / 1048576).toFixed(1)} MB; key ${key}`);

    const repo = path.join(work, 'campaigns-repo');
    mkdirSync(path.join(repo, 'templates'), { recursive: true });
    mkdirSync(path.join(repo, 'campaigns'), { recursive: true });
    writeFileSync(path.join(repo, 'marketer.yaml'), 'concurrency: 4\nrate: 200\n');
    writeFileSync(path.join(repo, 'templates/simple.mjml'), TEMPLATE);
    git(repo, 'init', '-q', '-b', 'main');
    git(repo, 'add', '-A');
    git(repo, 'commit', '-q', '-m', 'start');
    const start = git(repo, 'rev-parse', 'HEAD');

    const env = {
      ...process.env, GITHUB_ACTIONS: 'true', CI: 'true', RUNNER_OS: 'Linux', RUNNER_ARCH: 'X64', GITHUB_ACTION_PATH: actionDir,
      MARKETER_BIN: path.join(actionDir, 'bin/marketer.js'), MARKETER_BUILD_KEY: key,
      INPUT_DATABASE_URL: url, INPUT_AWS_REGION: 'us-east-1', INPUT_ARGS: '--no-summary',
      MARKETER_TRANSPORT: 'ses', MARKETER_SES_ENDPOINT: endpoint, AWS_ACCESS_KEY_ID: 'AKIDBENCH', AWS_SECRET_ACCESS_KEY: 'bench',
      MARKETER_UNSUBSCRIBE_SECRET: 'bench-secret', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u',
    };
    const rows: { baseline: number; key: number; restore: number; install: number; firstSend: number; total: number }[] = [];
    for (let run = 1; run <= RUNS + 1; run++) {
      // Each run: a fresh runner (no node_modules, no dist) and one new merged campaign.
      rmSync(path.join(actionDir, 'node_modules'), { recursive: true, force: true });
      rmSync(path.join(actionDir, 'dist'), { recursive: true, force: true });
      writeFileSync(path.join(repo, `campaigns/c${run}.yaml`), campaign(run));
      git(repo, 'add', '-A');
      git(repo, 'commit', '-q', '-m', `campaign ${run}`);
      const before = await sesStore(endpoint);
      const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];

      const baseline = timed(() => spawnSync(process.execPath, ['-e', '0']));
      const t0 = performance.now();
      const keyMs = timed(() => execFileSync('bash', [path.join(actionDir, 'action/cache-key.sh')], { env }));
      const restore = timed(() => execFileSync('bash', ['-c', 'zstd -q -d --long=30 -c "$1" | tar -xf - -C "$2"', 'restore', archive, actionDir]));
      const install = timed(() => execFileSync('bash', [path.join(actionDir, 'action/install.sh')], { env, stdio: 'ignore' }));
      const t1 = performance.now();
      const child = spawn('bash', [path.join(actionDir, 'action/run.sh')], {
        cwd: repo, stdio: ['ignore', 'ignore', 'pipe'],
        env: { ...env, INPUT_COMMAND: 'apply', EVENT_NAME: run === 1 ? 'workflow_dispatch' : 'schedule', INPUT_SINCE: run === 1 ? start : '' },
      });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
      let closed = false;
      const first = firstSendAfter(endpoint, before, () => closed);
      const [code] = (await once(child, 'close')) as [number | null];
      const end = performance.now();
      closed = true;
      let firstSend = (await first) ?? 0;
      if (code !== 0) throw new Error(`run.sh apply exited ${code}: ${stderr}`);
      if (!firstSend) firstSend = end;
      // Run 1 is the first apply (--since); it warms the OS page cache like a runner image does not.
      if (run === 1) continue;
      rows.push({ baseline, key: keyMs, restore, install, firstSend: firstSend - t1, total: firstSend - t0 });
      console.log(`run ${run - 1} (load average ${load}): node -e 0 ${secs(baseline)} | cache-key.sh ${secs(keyMs)} | restore ${secs(restore)} | install.sh ${secs(install)} | run.sh apply to first send ${secs(firstSend - t1)} (whole apply ${secs(end - t1)}, ${(await sesStore(endpoint).catch(() => NaN)) - before} sent) | setup to first send ${secs(firstSend - t0)}`);
    }
    const m = (k: keyof (typeof rows)[number]) => secs(median(rows.map((r) => r[k])));
    console.log(`\nmedian of ${rows.length}: node -e 0 ${m('baseline')}; cache-key.sh ${m('key')}; restore ${m('restore')}; install.sh ${m('install')}; run.sh apply to first send ${m('firstSend')}; from the action's first step to the first send ${m('total')}`);
  } finally {
    ses.kill();
    await server.stop().catch(() => undefined);
    rmSync(PG_DIR, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
