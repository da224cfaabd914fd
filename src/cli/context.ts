import path from 'node:path';
import chalk from 'chalk';
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config/config.js';
import { openDatabase, type DbHandle, type OpenOptions } from '../db/connect.js';
import { createOutput, type Output } from './output.js';

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
  return { config, out: createOutput(Boolean(opts.json)), opts };
}

/** Open the database (embedded unless DATABASE_URL is set), run `fn`, always close. */
export async function withDatabase<T>(ctx: CommandContext, fn: (handle: DbHandle) => Promise<T>, options: OpenOptions = {}): Promise<T> {
  const debug = process.env.MARKETER_DEBUG ? (l: string) => process.stderr.write(chalk.dim(l.endsWith('\n') ? l : `${l}\n`)) : undefined;
  const handle = await openDatabase(ctx.config, { onLog: debug, ...options });
  if (handle.embedded && !ctx.opts.quiet) {
    const rel = path.relative(process.cwd(), handle.embedded.dataDir) || '.';
    process.stderr.write(chalk.dim(`Using the embedded Postgres in ${rel} (set DATABASE_URL to use your own).\n`));
  }
  try {
    return await fn(handle);
  } finally {
    await handle.close();
  }
}
