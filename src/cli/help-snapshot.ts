import type { EventEmitter } from 'node:events';
import type { Command, Help } from 'commander';

/** One entry of a help list: the left column and the text beside it. */
export interface HelpItem {
  term: string;
  description: string;
  /** The heading the entry is listed under ("Options:", "Commands:" or a group of its own). */
  group: string;
}

/** A command's help as data: what commander formats for the terminal's width at each run. */
export interface FrozenCommand {
  usage: string;
  description: string;
  arguments: HelpItem[];
  options: HelpItem[];
  commands: HelpItem[];
  /**
   * What showing the help writes, in order: the texts added before and after it
   * (addHelpText), and `null` where commander's formatted help goes.
   */
  chunks: (string | null)[];
}

/** Every command's help, by its path below the program ('' for the program, 'db migrate'). */
export type HelpSnapshot = Record<string, FrozenCommand>;

/**
 * The help of a program and all of its commands as data, taken with commander's own helper: the
 * terms and descriptions it would list (visible ones only, in its order) and the texts the
 * commands add. Nothing in it depends on the terminal; frozen-help.ts lays it out at each run.
 */
export function snapshotHelp(program: Command): HelpSnapshot {
  const snapshot: HelpSnapshot = {};
  const visit = (cmd: Command, path: string[]) => {
    const helper: Help = cmd.createHelp();
    snapshot[path.join(' ')] = {
      usage: helper.commandUsage(cmd),
      description: helper.commandDescription(cmd),
      arguments: helper.visibleArguments(cmd).map((a) => ({ term: helper.argumentTerm(a), description: helper.argumentDescription(a), group: 'Arguments:' })),
      options: helper.visibleOptions(cmd).map((o) => ({ term: helper.optionTerm(o), description: helper.optionDescription(o), group: o.helpGroupHeading ?? 'Options:' })),
      commands: helper.visibleCommands(cmd).map((c) => ({ term: helper.subcommandTerm(c), description: helper.subcommandDescription(c), group: c.helpGroup() || 'Commands:' })),
      chunks: helpChunks(cmd),
    };
    for (const sub of cmd.commands) visit(sub, [...path, sub.name()]);
  };
  visit(program, []);
  return snapshot;
}

/** What commander's outputHelp writes around the formatted help, in its order. */
function helpChunks(cmd: Command): (string | null)[] {
  const chunks: (string | null)[] = [];
  const context = { error: false, command: cmd, write: (text: string) => chunks.push(text) };
  const lineage: Command[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) lineage.push(c);
  // A Command is an EventEmitter; addHelpText listens for these events.
  const emit = (c: Command, event: string) => (c as unknown as EventEmitter).emit(event, context);
  for (const c of [...lineage].reverse()) emit(c, 'beforeAllHelp');
  emit(cmd, 'beforeHelp');
  chunks.push(null);
  emit(cmd, 'afterHelp');
  for (const c of lineage) emit(c, 'afterAllHelp');
  return chunks;
}
