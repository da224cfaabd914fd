import { readFileSync } from 'node:fs';
import chalk from 'chalk';
import { CommanderError, type Command } from 'commander';
import { isMarketerError } from '../errors.js';
import { maskUrlsIn } from '../db/mask-url.js';
import { ReportedExit } from './reported-exit.js';
import { wrapProse } from './format.js';
import { buildProgram as buildProgramAt, helpArgv } from './program.js';
import { commandModules } from './commands/index.js';

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

/** The program with the commands `argv` needs (see program.ts), at this package's version. */
export async function buildProgram(argv?: string[]): Promise<Command> {
  return buildProgramAt(pkg.version, argv);
}

/** The commands' names, in the order of the work (bin/code-cache.js keeps code for these only). */
export const commandNames: readonly string[] = commandModules.map((c) => c.name);

/** Run the CLI; resolves to the exit code. The only place that prints errors. */
export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
  const json = argv.includes('--json');
  try {
    await program.parseAsync(helpArgv(argv));
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version arrive here as "errors" with exit code 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof ReportedExit) return err.exitCode;
    if (isMarketerError(err)) {
      if (json) {
        process.stdout.write(`${JSON.stringify({ error: { code: err.code, message: maskUrlsIn(err.message), details: err.details.map(maskUrlsIn), hint: err.hint ?? null } }, null, 2)}\n`);
      }
      const say = (line: string, indent: number) => process.stderr.write(`${wrapProse(line, indent, process.stderr)}\n`);
      say(`${chalk.red('error')} ${maskUrlsIn(err.message)}`, 2);
      for (const d of err.details) say(`  ${maskUrlsIn(d)}`, 4);
      if (err.hint) say(`${chalk.cyan('hint')} ${err.hint}`, 2);
      if (process.env.MARKETER_DEBUG && err.cause) process.stderr.write(`${String((err.cause as Error).stack ?? err.cause)}\n`);
      return err.exitCode;
    }
    // Loaded only for an error, so that start-up does not pay for the retry code.
    const state = (await import('../db/retry.js')).sqlState(err);
    if (state) {
      // A Postgres error that no retry could fix: say what the server said, with its SQLSTATE.
      process.stderr.write(`${chalk.red('error')} database: ${maskUrlsIn((err as Error).message)} (SQLSTATE ${state})\n`);
      if (process.env.MARKETER_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
      return 1;
    }
    process.stderr.write(`${chalk.red('unexpected error')} ${maskUrlsIn((err as Error)?.stack ?? String(err))}\n`);
    process.stderr.write('This is a bug in marketer; please report it with the command you ran.\n');
    return 1;
  }
}
