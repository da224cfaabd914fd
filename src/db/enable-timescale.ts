import { sql, type Kysely } from 'kysely';
import type { Database } from './types.js';

export interface TimescaleAvailability {
  /** The installed version, or the one CREATE EXTENSION would install. */
  version: string;
  /** Created in this database (CREATE EXTENSION has run). */
  installed: boolean;
}

/** The server's timescaledb extension, if it lists one. Reads control files only: loads nothing. */
export async function timescaleAvailability(db: Kysely<Database>): Promise<TimescaleAvailability | undefined> {
  const { rows } = await sql<{ default_version: string; installed_version: string | null }>`
    SELECT default_version, installed_version FROM pg_available_extensions WHERE name = 'timescaledb'`.execute(db);
  const ext = rows[0];
  return ext ? { version: ext.installed_version ?? ext.default_version, installed: ext.installed_version !== null } : undefined;
}

export type EnableOutcome =
  | { status: 'ready'; version: string }
  | { status: 'absent' }
  | { status: 'unusable'; version: string; reason: string };

/**
 * Create the timescaledb extension where the server lists it. A server can list it and still
 * not load it: TimescaleDB's loader, when not in shared_preload_libraries, ends the backend with
 * FATAL "extension "timescaledb" must be preloaded" (an ERROR would leave it half loaded), and a
 * broken install fails with "could not access file". So the attempt runs on a connection of its
 * own, outside the schema's transaction: a failure costs that connection, not the migration,
 * and the caller goes on in plain-Postgres mode. (Inside the transaction the FATAL killed the
 * migration, and the retry on "connection terminated" ran into it again and again.)
 */
export async function enableTimescale(db: Kysely<Database>, lockKey: number): Promise<EnableOutcome> {
  const available = await timescaleAvailability(db);
  if (!available) return { status: 'absent' };
  if (available.installed) return { status: 'ready', version: available.version };
  try {
    await db.connection().execute(async (conn) => {
      // Its own short transaction, so the lock is transaction-scoped (safe behind PgBouncer in
      // transaction mode) and two commands starting at once do not both create it.
      await sql`BEGIN`.execute(conn);
      try {
        await sql`SELECT pg_advisory_xact_lock(${lockKey})`.execute(conn);
        await sql`CREATE EXTENSION IF NOT EXISTS timescaledb`.execute(conn);
        await sql`COMMIT`.execute(conn);
      } catch (err) {
        // On a connection the server ended there is nothing to roll back.
        await sql`ROLLBACK`.execute(conn).catch(() => undefined);
        throw err;
      }
    });
    return { status: 'ready', version: available.version };
  } catch (err) {
    return { status: 'unusable', version: available.version, reason: failureReason(err) };
  }
}

/** The server's own words, and what a connection that ended mid-statement most likely means. */
export function failureReason(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const ended = code === '57P01' || /Connection terminated|terminating connection|not queryable|ECONNRESET|server closed the connection/i.test(message);
  const text = message.replace(/\s+/g, ' ').trim().slice(0, 300);
  return ended ? `the server ended the connection while loading it: ${text}` : text;
}
