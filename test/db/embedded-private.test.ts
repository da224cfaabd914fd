import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, PASSWORD_FILE, startEmbedded, type EmbeddedServer } from '../../src/db/embedded.js';
import { KEY_FILE } from '../../src/db/address-hash.js';
import { runCli } from '../helpers/cli.js';

/**
 * Another local user must not get into the embedded database: not with the password older
 * versions used for every data folder, not by reading the password file, not by reading the data
 * files. The other user is `nobody`, so this needs root (as the tests run in CI).
 */
const isRoot = userInfo().uid === 0;
const hasSu = spawnSync('su', ['--version']).status === 0;
if (!isRoot || !hasSu) console.warn('NOTICE: embedded-private.test.ts needs root and su to act as another user; skipped.');

const require = createRequire(import.meta.url);
const PG_MODULE = path.dirname(require.resolve('pg/package.json'));
const dir = mkdtempSync(path.join(tmpdir(), 'marketer-private-'));
let server: EmbeddedServer | undefined;

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Probe {
  connect: Record<string, string>;
  readPassword: string;
  listData: string;
}

/** What `nobody` can do: log in with guessed passwords, read the password file, list the data. */
function probeAsNobody(port: number, dataDir: string, passwords: string[]): Probe {
  const script = path.join(dir, 'probe.cjs');
  writeFileSync(script, `
const pg = require(${JSON.stringify(PG_MODULE)});
const fs = require('fs');
(async () => {
  const out = { connect: {}, readPassword: 'read', listData: 'listed' };
  for (const password of ${JSON.stringify(passwords)}) {
    const c = new pg.Client({ host: '127.0.0.1', port: ${port}, user: 'marketer', password, database: 'postgres', connectionTimeoutMillis: 20000 });
    try { await c.connect(); out.connect[password] = 'connected'; await c.end(); } catch (e) { out.connect[password] = e.code || e.message; }
  }
  try { fs.readFileSync(${JSON.stringify(path.join(dataDir, PASSWORD_FILE))}); } catch (e) { out.readPassword = e.code; }
  try { fs.readdirSync(${JSON.stringify(dataDir)}); } catch (e) { out.listData = e.code; }
  console.log(JSON.stringify(out));
  process.exit(0);
})();
`);
  chmodSync(script, 0o644);
  const stdout = execFileSync('su', ['nobody', '-s', '/bin/sh', '-c', `${process.execPath} ${script}`], { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Probe;
}

async function canConnect(url: string): Promise<boolean> {
  const c = new pg.Client({ connectionString: url });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

describe.skipIf(!isRoot || !hasSu)('the embedded database', () => {
  it('is private to the user who runs marketer, and an older data folder becomes private too', async () => {
    chmodSync(dir, 0o711); // the server runs as "postgres" and must reach the data folder
    const dataDir = path.join(dir, 'pg');
    server = await startEmbedded({ dataDir, port: await freePort(), settings: { fsync: 'off' } });
    expect(await canConnect(server.url)).toBe(true);
    const file = path.join(dataDir, PASSWORD_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const password = readFileSync(file, 'utf8').trim();
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect(server.url).toContain(password);

    const probe = probeAsNobody(server.port, dataDir, ['marketer', 'postgres']);
    expect(probe.connect).toEqual({ marketer: '28P01', postgres: '28P01' }); // password authentication failed
    expect(probe.readPassword).toBe('EACCES');
    expect(probe.listData).toBe('EACCES');

    // A data folder from before per-folder passwords: the fixed password, no password file.
    const owner = new pg.Client({ connectionString: server.url });
    await owner.connect();
    await owner.query("ALTER ROLE marketer PASSWORD 'marketer'");
    await owner.end();
    rmSync(file);
    await server.stop();
    server = await startEmbedded({ dataDir, port: await freePort(), settings: { fsync: 'off' } });
    expect(await canConnect(server.url)).toBe(true);
    const upgraded = readFileSync(file, 'utf8').trim();
    expect(upgraded).toMatch(/^[0-9a-f]{48}$/);
    expect(probeAsNobody(server.port, dataDir, ['marketer']).connect.marketer).toBe('28P01');
  });

  it('works from a fresh checkout with no secret set: the address-hash key is made 0600 beside the data', async () => {
    const repo = mkdtempSync(path.join(dir, 'repo-'));
    chmodSync(repo, 0o711);
    const r = await runCli(['subscribers', 'unsubscribe', 'someone@example.com', '--json'], {
      cwd: repo,
      env: { MARKETER_HASH_SECRET: undefined, MARKETER_EMBEDDED_PORT: String(await freePort()) },
      timeoutMs: 300_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ unsubscribed: 0, not_found: 1 });
    const key = path.join(repo, '.marketer', KEY_FILE);
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(readFileSync(key, 'utf8').trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(statSync(path.join(repo, '.marketer', 'pg', PASSWORD_FILE)).mode & 0o777).toBe(0o600);
  });
});
