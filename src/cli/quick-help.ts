import { CommanderError, type Command } from 'commander';
import { layoutHelp } from './help-layout.js';
import { snapshotHelp, type HelpSnapshot } from './help-snapshot.js';
import { buildProgram, helpArgv } from './program.js';

/** What the command line asks for is not help: the CLI proper runs it. */
class NotHelp extends Error {}

/**
 * Answer a command line that asks for help (`--help`, `-h`, `help`), and only that: build the
 * same program the CLI builds, let commander parse the line, and print the help if commander
 * shows help and exits with 0. Anything else (a command to run, a usage error, --version)
 * resolves to false having printed nothing, and the CLI proper handles the line as ever.
 *
 * Built to a CommonJS file of its own (scripts/bundle.mjs) that bin/marketer.js require()s:
 * help then starts without Node's ES module loader and loads one file, not thirteen. Nothing
 * here runs a command, so its copies of commander and the definitions never meet the CLI's.
 */
export async function answerHelp(argv: string[], version: string): Promise<boolean> {
  const program = await buildProgram(version, argv);
  const out: string[] = [];
  (function quiet(c: Command) {
    c.configureOutput({ writeOut: (str) => out.push(layoutHelp(str)), writeErr: () => {}, outputError: () => {} });
    c.commands.forEach(quiet);
  })(program);
  program.hook('preAction', () => {
    throw new NotHelp();
  });
  try {
    await program.parseAsync(helpArgv(argv));
    return false;
  } catch (err) {
    const help = err instanceof CommanderError && err.exitCode === 0 && (err.code === 'commander.helpDisplayed' || err.code === 'commander.help');
    if (help) process.stdout.write(out.join(''));
    return help;
  }
}

/** The help of the whole program as data, for dist/cli/help-snapshot.json (scripts/bundle.mjs). */
export async function helpSnapshot(version: string): Promise<HelpSnapshot> {
  return snapshotHelp(await buildProgram(version));
}
