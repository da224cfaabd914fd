import { readFileSync } from 'node:fs';
import { terminalWidth } from './format.js';
import { frozenHelp } from './frozen-help.js';
import type { HelpSnapshot } from './help-snapshot.js';

/** Standard output as bin/direct-output.js gives it: without building process.stdout where it can. */
export interface DirectOutput {
  /** The terminal's width, or undefined where standard output is no terminal. */
  columns(): number | undefined;
  /** Write all of `text` before returning. */
  writeOut(text: string): void;
}

/**
 * Print the help a plain help line asks for from the snapshot in `snapshotFile` (written by
 * scripts/bundle.mjs) to `out`, and say whether it did. Built to one small CommonJS file with only
 * commander's Help class (dist/cli/fast-help.cjs), so that `marketer --help` loads neither
 * commander's Command nor any command's definitions; false (nothing printed) sends the line on
 * to quick-help.cjs, then to the CLI.
 */
export function answerFromSnapshot(argv: string[], snapshotFile: string, out: DirectOutput): boolean {
  let snapshot: HelpSnapshot;
  try {
    snapshot = JSON.parse(readFileSync(snapshotFile, 'utf8')) as HelpSnapshot;
  } catch {
    return false;
  }
  const text = frozenHelp(argv.slice(2), snapshot, terminalWidth(out.columns));
  if (text === undefined) return false;
  out.writeOut(text);
  return true;
}
