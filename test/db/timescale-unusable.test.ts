import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, startEmbedded, type EmbeddedServer } from '../../src/db/embedded.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { runCli, type CliResult } from '../helpers/cli.js';
import { FAKE_TIMESCALE_VERSION, privatePostgresInstall, writeUnusableTimescale, type PrivateInstall } from '../helpers/private-postgres.js';
import { sesEnv, startSesEmulator, type SesEmulator } from '../helpers/ses.js';

/**
 * A Postgres server that lists TimescaleDB but cannot load it. The extension files live in a
 * private copy of the Postgres install with a cluster of its own (test/helpers/private-postgres.ts),
 * so no other test file's server ever sees them.
 */
const root = mkdtempSync(path.join(tmpdir(), 'marketer-tsdb-'));
// As root the server runs as "postgres", which must reach the data folder inside.
chmodSync(root, 0o711);
let install: PrivateInstall;
let server: EmbeddedServer;
let ses: SesEmulator;

beforeAll(async () => {
  install = await privatePostgresInstall(path.join(root, 'install'));
  server = await startEmbedded({
    dataDir: path.join(root, 'data'),
    port: await freePort(),
    database: 'postgres',
    binDir: install.binDir,
    settings: { fsync: 'off', synchronous_commit: 'off' },
  });
  ses = await startSesEmulator();
}, 120_000);

afterAll(async () => {
  await ses?.stop();
  await server?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function query<R extends pg.QueryResultRow>(url: string, text: string): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<R>(text)).rows;
  } finally {
    await c.end();
  }
}

let dbCount = 0;
async function newDatabase(): Promise<string> {
  const name = `ts_${++dbCount}`;
  await query(server.url, `CREATE DATABASE ${name}`);
  const u = new URL(server.url);
  u.pathname = `/${name}`;
  return u.toString();
}

// The SES emulator has no identity API, so send also warns that the From identity went unchecked.
const UNCHECKED_IDENTITY = 'warning campaign 7: the From identity was not checked';
const warnings = (r: CliResult) => r.stderr.split('\n').filter((l) => l.startsWith('warning') && !l.startsWith(UNCHECKED_IDENTITY));
/** Everything on stderr but warnings: an error is one line (the fix in it, no hint line). */
const otherLines = (r: CliResult) => r.stderr.trim().split('\n').filter((l) => !l.startsWith('warning'));

/** A campaigns repository, three subscribers and the environment that sends through the emulator. */
function setup(url: string, config = 'concurrency: 4\n') {
  const repo = makeCampaignRepo({ config });
  const csv = path.join(repo.dir, 'subscribers.csv');
  writeFileSync(csv, 'email,first_name\nann@example.com,Ann\nbob@example.com,Bob\ncy@example.com,Cy\n');
  return { ...repo, csv, env: { ...sesEnv(ses.endpoint), DATABASE_URL: url } };
}

async function isPlainTable(url: string): Promise<boolean> {
  const ext = await query(url, "SELECT 1 FROM pg_extension WHERE extname = 'timescaledb'");
  const t = await query<{ relkind: string }>(url, "SELECT relkind FROM pg_class WHERE relname = 'email_events'");
  return ext.length === 0 && t[0]?.relkind === 'r';
}

describe('TimescaleDB installed on the server but unusable', () => {
  it('a library that cannot load: import, send and stats run on plain Postgres with one warning each', async () => {
    writeUnusableTimescale(install.extensionDir, 'missing-library');
    const url = await newDatabase();
    const { dir, csv, campaignFile, env } = setup(url);
    await ses.clear();

    const imported = await runCli(['import', csv, '--tag', 'newsletter', '--json'], { cwd: dir, env });
    expect(imported.code, imported.stderr).toBe(0);
    expect(JSON.parse(imported.stdout)).toMatchObject({ inserted: 3, rejected: 0 });
    const sent = await runCli(['send', campaignFile, '--json'], { cwd: dir, env });
    expect(sent.code, sent.stderr).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ sent: 3, failed: 0 });
    const stats = await runCli(['stats', '7'], { cwd: dir, env });
    expect(stats.code, stats.stderr).toBe(0);
    expect(stats.stdout).toContain('Test campaign');

    for (const r of [imported, sent, stats]) {
      expect(warnings(r)).toHaveLength(1);
      expect(warnings(r)[0]).toContain(`TimescaleDB ${FAKE_TIMESCALE_VERSION} is installed on this Postgres server but cannot be used (could not access file "$libdir/timescaledb-${FAKE_TIMESCALE_VERSION}"`);
      expect(warnings(r)[0]).toContain('set timescale: off');
      expect(r.stderr).not.toMatch(/Connection terminated|error/);
    }
    expect((await ses.store()).map((m) => m.destination.to[0]).sort()).toEqual(['ann@example.com', 'bob@example.com', 'cy@example.com']);
    expect(await isPlainTable(url)).toBe(true);

    // require: exit 2 and one line saying why and what to do.
    const required = await runCli(['stats', '7'], { cwd: dir, env: { ...env, MARKETER_TIMESCALE: 'require' } });
    expect(required.code).toBe(2);
    expect(otherLines(required)).toEqual([
      expect.stringMatching(/^error timescale is set to require, but TimescaleDB 2\.99\.0 cannot be used on this server \(could not access file .*\): repair the server's TimescaleDB installation .* and run `marketer db migrate`, or set timescale: auto to run on plain Postgres\.$/),
    ]);
    // off: the extension is not looked at, and nothing is said.
    const off = await runCli(['stats', '7'], { cwd: dir, env: { ...env, MARKETER_TIMESCALE: 'off' } });
    expect(off.code, off.stderr).toBe(0);
    expect(warnings(off)).toEqual([]);
  }, 120_000);

  it('a loader that ends the connection (TimescaleDB not preloaded): plain mode, and require fails from marketer.yaml', async () => {
    writeUnusableTimescale(install.extensionDir, 'fatal-on-load');
    const url = await newDatabase();
    const { dir, csv, campaignFile, env } = setup(url);

    const imported = await runCli(['import', csv, '--tag', 'newsletter'], { cwd: dir, env });
    expect(imported.code, imported.stderr).toBe(0);
    expect(warnings(imported)).toEqual([
      expect.stringContaining('cannot be used (the server ended the connection while loading it: terminating connection due to administrator command), so email_events is a plain Postgres table. To use it, add timescaledb to shared_preload_libraries in postgresql.conf, restart Postgres and run `marketer db migrate`'),
    ]);
    const migrated = await runCli(['db', 'migrate'], { cwd: dir, env });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(warnings(migrated)).toHaveLength(1);
    expect(migrated.stdout).toContain('email_events is a plain table (indexed by campaign and time): TimescaleDB cannot be used on this server');
    expect(await isPlainTable(url)).toBe(true);

    const strict = setup(url, 'concurrency: 4\ntimescale: require\n');
    const refused = await runCli(['send', strict.campaignFile], { cwd: strict.dir, env });
    expect(refused.code).toBe(2);
    expect(otherLines(refused)).toEqual([
      expect.stringMatching(/^error timescale is set to require, but TimescaleDB 2\.99\.0 cannot be used on this server \(the server ended the connection while loading it: .*\): add timescaledb to shared_preload_libraries in postgresql\.conf, restart Postgres and run `marketer db migrate`, or set timescale: auto/),
    ]);
    // The refused command recorded nothing; without require the same send goes out.
    expect(await query(url, 'SELECT 1 FROM campaigns')).toEqual([]);
    const sent = await runCli(['send', campaignFile, '--json'], { cwd: dir, env });
    expect(sent.code, sent.stderr).toBe(0);
    expect(JSON.parse(sent.stdout)).toMatchObject({ sent: 3 });
  }, 120_000);

  it('a database made with timescale: off hears once per command that the extension is there, until db migrate', async () => {
    writeUnusableTimescale(install.extensionDir, 'missing-library');
    const url = await newDatabase();
    const { dir, csv, env } = setup(url);
    const made = await runCli(['import', csv], { cwd: dir, env: { ...env, MARKETER_TIMESCALE: 'off' } });
    expect(made.code, made.stderr).toBe(0);
    expect(warnings(made)).toEqual([]);

    const later = await runCli(['stats'], { cwd: dir, env });
    expect(later.code, later.stderr).toBe(0);
    expect(warnings(later)).toEqual([
      `warning TimescaleDB ${FAKE_TIMESCALE_VERSION} is available on this Postgres server, but email_events is still a plain table: run \`marketer db migrate\` to make it a hypertable (set timescale: off to keep it plain and silence this).`,
    ]);
    // An ordinary command did not try the extension: it is still not created.
    expect(await isPlainTable(url)).toBe(true);
    // db migrate tries, finds it unusable, and from then on commands say that instead.
    const migrated = await runCli(['db', 'migrate', '--json'], { cwd: dir, env });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(JSON.parse(migrated.stdout)).toMatchObject({ engine: 'postgres', timescale: 'unusable' });
    const after = await runCli(['stats'], { cwd: dir, env });
    expect(warnings(after)).toEqual([expect.stringContaining('is installed on this Postgres server but cannot be used (could not access file')]);
  }, 120_000);
});

describe('a plain database on a server whose TimescaleDB is not preloaded', () => {
  it('stays quiet after the extension appears, until db migrate tries it; a user who cannot see shared_preload_libraries is told it is there', async () => {
    rmSync(path.join(install.extensionDir, 'timescaledb.control'), { force: true });
    const url = await newDatabase();
    const { dir, csv, env } = setup(url);
    const made = await runCli(['import', csv], { cwd: dir, env });
    expect(made.code, made.stderr).toBe(0);
    expect(warnings(made)).toEqual([]);

    // The package is installed since, but its loader is not in shared_preload_libraries, so it
    // cannot be used: nothing has changed for this database, and nothing is said.
    writeUnusableTimescale(install.extensionDir, 'fatal-on-load');
    expect(await query<{ setting: string }>(url, "SELECT setting FROM pg_settings WHERE name = 'shared_preload_libraries'")).toEqual([{ setting: '' }]);
    const quiet = await runCli(['stats'], { cwd: dir, env });
    expect(quiet.code, quiet.stderr).toBe(0);
    expect(warnings(quiet)).toEqual([]);

    // A user without the right to read that setting cannot know; the server lists the
    // extension, so that user hears that it is there.
    await query(url, "CREATE ROLE ts_reader LOGIN PASSWORD 'reader-password'; GRANT ALL ON ALL TABLES IN SCHEMA public TO ts_reader; GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ts_reader");
    const asReader = new URL(url);
    asReader.username = 'ts_reader';
    asReader.password = 'reader-password';
    const told = await runCli(['stats'], { cwd: dir, env: { ...env, DATABASE_URL: asReader.toString() } });
    expect(told.code, told.stderr).toBe(0);
    expect(warnings(told)).toEqual([expect.stringContaining(`TimescaleDB ${FAKE_TIMESCALE_VERSION} is available on this Postgres server, but email_events is still a plain table`)]);

    // db migrate tries it and says why it cannot be used; from then on every command says so.
    const migrated = await runCli(['db', 'migrate', '--json'], { cwd: dir, env });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(JSON.parse(migrated.stdout)).toMatchObject({ engine: 'postgres', timescale: 'unusable' });
    const after = await runCli(['stats'], { cwd: dir, env });
    expect(warnings(after)).toEqual([expect.stringContaining('add timescaledb to shared_preload_libraries in postgresql.conf, restart Postgres and run `marketer db migrate`')]);
    expect(await isPlainTable(url)).toBe(true);
  }, 120_000);
});
