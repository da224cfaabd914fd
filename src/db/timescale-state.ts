import { inputError, type MarketerError } from '../errors.js';

/**
 * What became of TimescaleDB on one database, recorded with the schema hash in marketer_meta.
 * - hypertable: email_events is a hypertable (compression, hourly continuous aggregate).
 * - absent: the server has no timescaledb extension (or, without it in shared_preload_libraries,
 *   none it could load); plain Postgres, nothing to say.
 * - off: `timescale: off`; the extension was not touched.
 * - unusable: the server lists the extension but it cannot be created or loaded (typically
 *   not in shared_preload_libraries: the loader then ends the connection with a FATAL).
 * - not-converted: the extension can be used (or is installed) but email_events was made as a
 *   plain table; only `marketer db migrate` converts it (it rewrites the table).
 */
export type TimescaleState =
  | { status: 'hypertable'; version: string }
  | { status: 'absent' }
  | { status: 'off' }
  | { status: 'unusable'; version: string; reason: string }
  | { status: 'not-converted'; version: string };

const MIGRATE = 'run `marketer db migrate`';

/** The real loader says this when it is not preloaded (FATAL, so the connection ends too). */
export function needsPreload(reason: string): boolean {
  return /must be preloaded|ended the connection/i.test(reason);
}

function fixFor(reason: string): string {
  if (needsPreload(reason)) return `add timescaledb to shared_preload_libraries in postgresql.conf, restart Postgres and ${MIGRATE}`;
  if (/permission denied/i.test(reason)) return `${MIGRATE} as a user who may create extensions (or have one run CREATE EXTENSION timescaledb)`;
  return `repair the server's TimescaleDB installation (its log says more) and ${MIGRATE}`;
}

/**
 * The one line a command shows when email_events is a plain table although the server has
 * TimescaleDB, with the way out; undefined when there is nothing to say.
 */
export function timescaleWarning(state: TimescaleState): string | undefined {
  switch (state.status) {
    case 'unusable':
      return `TimescaleDB ${state.version} is installed on this Postgres server but cannot be used (${state.reason}), so email_events is a plain Postgres table. To use it, ${fixFor(state.reason)}; to silence this, set timescale: off.`;
    case 'not-converted':
      return `TimescaleDB ${state.version} is available on this Postgres server, but email_events is still a plain table: ${MIGRATE} to make it a hypertable (set timescale: off to keep it plain and silence this).`;
    default:
      return undefined;
  }
}

/**
 * `timescale: require` and email_events is not a hypertable: exit 2, one line that says why and
 * what to do (no hint line: the fix is in the message).
 */
export function timescaleRequired(state: TimescaleState): MarketerError | undefined {
  const head = 'timescale is set to require, but';
  const auto = 'or set timescale: auto to run on plain Postgres';
  switch (state.status) {
    case 'hypertable':
    case 'off':
      return undefined;
    case 'absent':
      return inputError('TIMESCALE_REQUIRED', `${head} this Postgres server has no timescaledb extension: install TimescaleDB on it (or use a Timescale service) and ${MIGRATE}, ${auto}.`);
    case 'unusable':
      return inputError('TIMESCALE_REQUIRED', `${head} TimescaleDB ${state.version} cannot be used on this server (${state.reason}): ${fixFor(state.reason)}, ${auto}.`);
    case 'not-converted':
      return inputError('TIMESCALE_REQUIRED', `${head} email_events is still a plain table: ${MIGRATE} to make it a hypertable.`);
  }
}
