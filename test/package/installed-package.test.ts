import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { cleanEnv, REPO } from '../helpers/cli.js';

const run = promisify(execFile);
const work = mkdtempSync(path.join(tmpdir(), 'marketer-package-'));
// Run as root, the embedded Postgres runs as "postgres", which must be able to enter the project.
chmodSync(work, 0o755);
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** A command of the installed package, run in `cwd` as a user would, with nothing of ours set. */
async function marketer(cwd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(path.join(work, 'app', 'node_modules', '.bin', 'marketer'), args, { cwd, env: cleanEnv(), timeout: 180_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? String(err) };
  }
}

/**
 * What `npm pack` produces is what users install: pack this checkout, install the tarball into
 * an empty folder (dependencies from the npm cache where it has them, which `npm ci` has just
 * filled on CI), and run the quickstart against the embedded Postgres it brings.
 */
describe('the packed package', () => {
  it('installs into an empty folder and imports and sends on the embedded defaults', async () => {
    const packed = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: REPO, env: cleanEnv(), maxBuffer: 64 << 20 });
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    const files = info!.files.map((f) => f.path);
    for (const f of ['bin/marketer.js', 'dist/cli/main.js', 'schema.sql', 'schema-timescale.sql', 'scaffold/marketer.yaml']) expect(files).toContain(f);
    expect(files.some((f) => f.startsWith('src/') || f.startsWith('test/'))).toBe(false);

    const app = path.join(work, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), '{ "private": true }\n');
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', path.join(work, info!.filename)], { cwd: app, env: cleanEnv(), maxBuffer: 64 << 20 });

    const project = path.join(work, 'project');
    const init = await marketer(work, ['init', project]);
    expect(init.code, init.stderr).toBe(0);
    const imported = await marketer(project, ['import', 'subscribers.example.csv', '--json']);
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ inserted: 2, rejected: 0 });
    const sent = await marketer(project, ['send', 'campaigns/welcome.yaml', '--now', '--json']);
    expect(sent.code, sent.stderr).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ enqueued: 2, sent: 2, queued: 0, status: 'done' });
    const outbox = path.join(project, 'outbox');
    const written = readdirSync(outbox, { recursive: true }).map(String).filter((f) => f.endsWith('.eml'));
    expect(written).toHaveLength(2);
    expect(statSync(outbox).isDirectory()).toBe(true);
  });
});
