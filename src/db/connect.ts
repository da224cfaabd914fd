import type { Socket } from 'node:net';
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import type { Config } from '../config/config.js';
import { isMarketerError, MarketerError } from '../errors.js';
import { startEmbedded, type EmbeddedServer } from './embedded.js';
import { readMetaRows } from './meta-rows.js';
import { migrate, type MigrateResult } from './migrate.js';
import { withDbRetry } from './retry.js';
import { addressHashKeys, prepareAddressHashes, sessionOptions } from './address-hash.js';
import { maskUrl, maskUrlsIn } from './mask-url.js';
import { PreparingClient } from './prepared-statements.js';
import type { Database } from './types.js';

// timestamptz and bigint stay as pg returns them (Date, string); numeric counts come back as
// strings from count(*), converted where read.

export interface DbHandle {
  db: Kysely<Database>;
  pool: pg.Pool;
  /** Set when the embedded server is in use. */
  embedded: EmbeddedServer | undefined;
  migration: MigrateResult | undefined;
  close(options?: CloseOptions): Promise<void>;
}

export interface CloseOptions {
  /**
   * false: return once each connection has said goodbye (the Terminate message, then this end
   * of the socket), not when the server has closed its end too, which takes it another ~10 ms
   * (its backend exits), or forever for a proxy that never closes; the sockets no longer hold
   * the process. For a process about to exit (the CLI). Ignored with the embedded server, which
   * is stopped after its connections. Default true.
   */
  waitForServer?: boolean;
}

export interface OpenOptions {
  /**
   * Apply schema.sql before returning (default true); 'force' applies it even when current;
   * 'check' never writes and fails clearly when the schema is missing or not current.
   */
  migrate?: boolean | 'force' | 'check';
  poolSize?: number;
  onLog?: (line: string) => void;
}

export async function openDatabase(config: Config, options: OpenOptions = {}): Promise<DbHandle> {
  let embedded: EmbeddedServer | undefined;
  let url = config.databaseUrl;
  // Before the server starts: a missing secret is a configuration error, not a database one.
  const keys = addressHashKeys(config, { readOnly: options.migrate === 'check' });
  if (!url) {
    embedded = await startEmbedded({ dataDir: `${config.dataDir}/pg`, port: config.embeddedPort, onLog: options.onLog });
    url = embedded.url;
  }
  const pool = new pg.Pool({ ...withSessionOptions(url, sessionOptions(keys)), max: options.poolSize ?? 10, application_name: 'marketer', Client: PreparingClient });
  // An idle client losing its connection must not crash the process; the next query reconnects.
  pool.on('error', (err) => options.onLog?.(`postgres pool: ${err.message}`));
  const sockets = new Set<Socket>();
  // A connection reset while a client is checked out between two statements would otherwise be
  // an unhandled 'error' event and kill the process; the statement that next uses the client
  // fails instead, and withDbRetry runs it again on a fresh connection. The sockets are kept for
  // a close that does not wait for the server (CloseOptions).
  pool.on('connect', (client) => {
    client.on('error', (err) => options.onLog?.(`postgres connection: ${err.message}`));
    const socket = (client as unknown as { connection: { stream: Socket } }).connection.stream;
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const close = async (how: CloseOptions = {}) => {
    if (how.waitForServer === false && !embedded) {
      const destroyed = db.destroy();
      destroyed.catch(() => undefined);
      await Promise.race([destroyed, Promise.all([...sockets].map(goodbyeWritten))]);
      for (const socket of sockets) socket.unref();
      return;
    }
    await db.destroy();
    await embedded?.release();
  };
  try {
    // The first statement meets a server that may be starting up (the embedded one, a restart)
    // and is retried: migrate's first read when it runs (one round trip fewer), else this.
    if (options.migrate === false) {
      await withDbRetry(() => pool.query('SELECT 1'), { retries: 4 });
      return { db, pool, embedded, migration: undefined, close };
    }
    // marketer_meta is read once for both steps below (one round trip fewer on every command).
    const { rows, migration } = await withDbRetry(async () => {
      const read = await readMetaRows(db);
      return { rows: read, migration: await migrate(db, { force: options.migrate === 'force', readOnly: options.migrate === 'check', timescale: config.timescale, meta: { rows: read } }) };
    });
    // A read-only check (plan on a read-only user) neither converts nor records anything. Where
    // the schema ran just now, it may have recorded the address-hash state: read it again.
    if (options.migrate !== 'check') await withDbRetry(() => prepareAddressHashes(db, keys, migration.applied ? undefined : rows));
    return { db, pool, embedded, migration, close };
  } catch (err) {
    await close().catch(() => undefined);
    if (isMarketerError(err)) throw err;
    const code = (err as { code?: string }).code;
    throw new MarketerError('DB_CONNECT_FAILED', `Cannot use the database${config.databaseUrl ? ` at ${redactUrl(config.databaseUrl)}` : ''}: ${maskUrlsIn((err as Error).message)}${code ? ` (SQLSTATE ${code})` : ''}`, {
      cause: err,
      hint: config.databaseUrl ? 'Check DATABASE_URL (host, port, credentials) and that the server is running.' : undefined,
    });
  }
}

/** Resolves once this end of the socket is closed for writing (its last bytes handed to the system), or the socket is gone. */
function goodbyeWritten(socket: Socket): Promise<void> {
  if (socket.writableFinished || socket.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    socket.once('finish', resolve);
    socket.once('close', resolve);
  });
}

/**
 * The address-hash key travels as session settings in the startup `options`. pg lets options in
 * the URL win over the ones given beside it, so a URL with its own options gets ours appended.
 */
function withSessionOptions(url: string, extra: string): { connectionString: string; options?: string } {
  try {
    const u = new URL(url);
    const own = u.searchParams.get('options');
    if (own !== null) {
      u.searchParams.set('options', `${own} ${extra}`);
      return { connectionString: u.toString() };
    }
  } catch {
    // pg reports an unparseable URL itself.
  }
  return { connectionString: url, options: extra };
}

/** A connection URL with every secret masked, for messages. */
export const redactUrl = maskUrl;
