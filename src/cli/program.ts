import chalk from 'chalk';
import { Command } from 'commander';
import { commandModules, requestedCommand } from './commands/index.js';
import { terminalWidth } from './format.js';
import { layoutHelp } from './help-layout.js';

/**
 * The program with the commands `argv` needs: the one it names, or all of them (overall help,
 * a mistyped name that commander should suggest a fix for).
 */
export async function buildProgram(version: string, argv?: string[]): Promise<Command> {
  const program = new Command('marketer')
    .description('Campaigns-as-code email marketing: import subscribers, send MJML campaigns through Amazon SES in timezone-aware waves, read the results.')
    .version(version)
    .option('-c, --config <file>', 'config file (default: ./marketer.yaml)')
    .option('-q, --quiet', 'no notices on stderr')
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      // Errors go straight to stderr; what else commander writes there is help (shown after a
      // usage error), laid out like help on stdout.
      outputError: (str) => process.stderr.write(chalk.red(str)),
      // Help text (commander's lists and every command's notes and examples) fits the terminal.
      writeOut: (str) => process.stdout.write(layoutHelp(str)),
      writeErr: (str) => process.stderr.write(layoutHelp(str)),
      getOutHelpWidth: () => terminalWidth(),
      getErrHelpWidth: () => terminalWidth(),
    })
    .addHelpText(
      'after',
      `
Examples:
  $ marketer import subscribers.csv --source signup-form
  $ marketer validate
  $ marketer plan campaigns/weekly.yaml
  $ marketer send campaigns/weekly.yaml --wait
  $ marketer stats 42

Configuration: ./marketer.yaml, every key also as MARKETER_<KEY>; DATABASE_URL selects your
Postgres (unset: an embedded one in .marketer/).`,
    );
  const wanted = argv ? requestedCommand(argv.slice(2)) : undefined;
  const single = commandModules.find((c) => c.name === wanted);
  const versionOnly = !wanted && argv !== undefined && (argv.includes('-V') || argv.includes('--version'));
  // Loaded together (the loader reads and compiles them side by side), registered in order.
  const registers = await Promise.all((single ? [single] : versionOnly ? [] : commandModules).map((c) => c.load()));
  for (const register of registers) register(program);
  program.commands.forEach(function exitOverride(c: Command) {
    c.exitOverride();
    c.commands.forEach(exitOverride);
  });
  return program;
}

/**
 * The command line commander should parse: `help db migrate` as `db migrate --help` (commander's
 * own help command looks at the first name only, and showed the help of `db`). One name or none
 * is left to commander.
 */
export function helpArgv(argv: string[]): string[] {
  const args = argv.slice(2);
  const at = args.findIndex((a, i) => !a.startsWith('-') && !(i > 0 && (args[i - 1] === '-c' || args[i - 1] === '--config')));
  if (at < 0 || args[at] !== 'help') return argv;
  const names = args.slice(at + 1);
  if (names.length < 2 || names.some((n) => n.startsWith('-'))) return argv;
  return [...argv.slice(0, 2), ...args.slice(0, at), ...names, '--help'];
}
