import path from 'node:path';
import chalk from 'chalk';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config/config.js';
import type { DbHandle, OpenOptions } from '../db/connect.js';
import { createOutput, type Output } from './output.js';
import { trimHeapWhileRunning } from './heap-trim.js';
import { MarketerError } from '../errors.js';

export interface GlobalOptions {
  config?: string;
  json?: boolean;
  quiet?: boolean;
}

export interface CommandContext {
  config: Config;
  out: Output;
  opts: GlobalOptions;
}

/** Config and output for a command, from its own options and the global ones. */
export function commandContext(cmd: Command): CommandContext {
  const opts = cmd.optsWithGlobals<GlobalOptions>();
  const config = loadConfig({ file: opts.config });
  return { config, out: createOutput(Boolean(opts.json), { quiet: opts.quiet }), opts };
}

/** Open the database (embedded unless DATABASE_URL is set), run `fn`, always close. */
export async function withDatabase<T>(ctx: CommandContext, fn: (handle: DbHandle) => Promise<T>, options: OpenOptions = {}): Promise<T> {
  const debug = process.env.MARKETER_DEBUG ? (l: string) => process.stderr.write(chalk.dim(l.endsWith('\n') ? l : `${l}\n`)) : undefined;
  // Loaded here, not at start-up: pg, kysely and the embedded server are for commands that use them.
  const { openDatabase } = await import('../db/connect.js');
  const handle = await openDatabase(ctx.config, { onLog: debug, ...options });
  if (handle.embedded && !ctx.opts.quiet) {
    const rel = path.relative(process.cwd(), handle.embedded.dataDir) || '.';
    process.stderr.write(chalk.dim(`Using the embedded Postgres in ${rel} (set DATABASE_URL to use your own).\n`));
  }
  // TimescaleDB on the server but email_events a plain table: once per command, with the fix.
  if (handle.migration?.warning) ctx.out.warn(handle.migration.warning);
  // Long commands (import, send, dispatch, events, serve) stream through a lot of garbage.
  const stopTrimming = trimHeapWhileRunning();
  try {
    return await fn(handle);
  } finally {
    stopTrimming();
    // The process exits next: it need not wait for the server to close its end.
    await handle.close({ waitForServer: false });
  }
}

/**
 * Open options for commands that only read (plan, apply --plan): they may run as a read-only
 * database user (a pull request's), so they never change a DATABASE_URL database's schema. The
 * embedded database is the user's own scratch copy and is set up as usual.
 */
export function readOnlyDatabase(ctx: CommandContext): OpenOptions {
  return { migrate: ctx.config.databaseUrl ? 'check' : true };
}

/** For commands that send nothing: a missing unsubscribe secret becomes a placeholder (see Config). */
export function sendsNothing(ctx: CommandContext): CommandContext {
  return { ...ctx, config: { ...ctx.config, unsubscribePlaceholder: true } };
}

// Its own module so that main.ts (--version, --help) does not load the database layer.
export { ReportedExit } from './reported-exit.js';

/**
 * On a CI runner the disk is thrown away after the job, and with it the embedded database's
 * ledger: the next run would mail everyone again. Commands that send or record refuse there.
 */
export function refuseEphemeralDatabase(ctx: CommandContext, command: string, allow: boolean | undefined): void {
  const ci = process.env.GITHUB_ACTIONS || process.env.CI;
  if (!ci || ctx.config.databaseUrl || allow) return;
  throw new MarketerError('EPHEMERAL_DATABASE', `Refusing to run "marketer ${command}" on a CI runner with the embedded database: the runner's disk, and with it the record of who was already mailed, is thrown away after the job, so the next run would send again.`, {
    exitCode: 2,
    hint: 'Set DATABASE_URL to a Postgres that outlives the job (a managed Postgres or Timescale service), or pass --allow-ephemeral-db if you really mean it.',
  });
}
