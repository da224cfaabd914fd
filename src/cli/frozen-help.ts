import { Help, type Argument, type Command, type Option } from 'commander';
import { layoutHelp } from './help-layout.js';
import type { FrozenCommand, HelpItem, HelpSnapshot } from './help-snapshot.js';

/**
 * The help page a command line asks for, from a snapshot of the program's help
 * (help-snapshot.ts), or undefined when the line is not one of the plain forms answered here:
 * `--help`, `-h` or `help` alone, `<command…> --help` (or `-h`), and `help <command…>`, where
 * `<command…>` names a command or subcommand. Anything else (options, arguments, an unknown
 * name) is left to the program itself.
 *
 * The page is commander's: its Help class formats the snapshot's entries for `width` exactly as
 * it formats the commands' own, and each text written goes through layoutHelp as the program's
 * writeOut does.
 */
export function frozenHelp(args: string[], snapshot: HelpSnapshot, width: number): string | undefined {
  const path = requestedPath(args);
  const frozen = path === undefined ? undefined : Object.hasOwn(snapshot, path) ? snapshot[path] : undefined;
  if (!frozen) return undefined;
  const helper = new FrozenHelp();
  helper.prepareContext({ helpWidth: width, error: false, outputHasColors: false });
  const page = helper.formatHelp(asCommand(frozen), helper);
  return frozen.chunks.map((chunk) => layoutHelp(chunk ?? page, width)).join('');
}

/** The command path a plain help line names ('' for the program), or undefined. */
function requestedPath(args: string[]): string | undefined {
  const names = args[0] === 'help' ? args.slice(1) : args.length > 0 && (args.at(-1) === '--help' || args.at(-1) === '-h') ? args.slice(0, -1) : undefined;
  if (!names || names.some((n) => n.startsWith('-') || n === 'help')) return undefined;
  return names.join(' ');
}

/** The shape of a command that commander's formatHelp reads (its lists, for their groups). */
function asCommand(frozen: FrozenCommand): Command {
  const view = {
    frozen,
    options: frozen.options.map((o) => ({ ...o, helpGroupHeading: o.group })),
    commands: frozen.commands.map((c) => ({ ...c, helpGroup: () => c.group })),
  };
  return view as unknown as Command;
}

const item = (x: Argument | Option | Command) => x as unknown as HelpItem;
const frozenOf = (cmd: Command) => (cmd as unknown as { frozen: FrozenCommand }).frozen;

/** commander's Help, reading the snapshot's entries instead of a command's definitions. */
class FrozenHelp extends Help {
  override commandUsage(cmd: Command): string {
    return frozenOf(cmd).usage;
  }
  override commandDescription(cmd: Command): string {
    return frozenOf(cmd).description;
  }
  override visibleArguments(cmd: Command): Argument[] {
    return frozenOf(cmd).arguments as unknown as Argument[];
  }
  override visibleOptions(cmd: Command): Option[] {
    return (cmd as unknown as { options: Option[] }).options;
  }
  override visibleGlobalOptions(): Option[] {
    return [];
  }
  override visibleCommands(cmd: Command): Command[] {
    return cmd.commands as Command[];
  }
  override argumentTerm(a: Argument): string {
    return item(a).term;
  }
  override argumentDescription(a: Argument): string {
    return item(a).description;
  }
  override optionTerm(o: Option): string {
    return item(o).term;
  }
  override optionDescription(o: Option): string {
    return item(o).description;
  }
  override subcommandTerm(c: Command): string {
    return item(c).term;
  }
  override subcommandDescription(c: Command): string {
    return item(c).description;
  }
}
