import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { frozenHelp } from '../../src/cli/frozen-help.js';
import { answerHelp, helpSnapshot } from '../../src/cli/quick-help.js';
import { REPO } from '../helpers/cli.js';

const version = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** What the program's own help path (quick-help) prints for a line at a width, or undefined. */
async function programHelp(args: string[], width: number): Promise<string | undefined> {
  vi.stubEnv('COLUMNS', String(width));
  let printed = '';
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    printed += String(chunk);
    return true;
  });
  try {
    return (await answerHelp(['node', 'marketer', ...args], version)) ? printed : undefined;
  } finally {
    write.mockRestore();
  }
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('help from the snapshot', () => {
  it('is the page the program prints, for every command and subcommand, at every terminal width', async () => {
    const snapshot = await helpSnapshot(version);
    const paths = Object.keys(snapshot);
    expect(paths).toEqual(expect.arrayContaining(['', 'send', 'events ingest', 'db migrate', 'subscribers forget']));
    let compared = 0;
    for (const name of paths) {
      const words = name === '' ? [] : name.split(' ');
      for (const line of [[...words, '--help'], [...words, '-h'], ['help', ...words]]) {
        for (const width of [40, 57, 80, 100]) {
          const expected = await programHelp(line, width);
          expect(expected, line.join(' ')).toBeDefined();
          expect(frozenHelp(line, snapshot, width), `${line.join(' ')} at ${width} columns`).toBe(expected);
          compared += 1;
        }
      }
    }
    expect(compared).toBe(paths.length * 12);
  }, 120_000);

  it('is the help of these sources: the build wrote the snapshot of the current definitions', async () => {
    const built = JSON.parse(readFileSync(path.join(REPO, 'dist', 'cli', 'help-snapshot.json'), 'utf8')) as unknown;
    expect(built).toEqual(await helpSnapshot(version));
  });

  it('declines every line that is not plain help, which the program answers instead', async () => {
    const snapshot = await helpSnapshot(version);
    for (const line of [['stats', '1', '--help'], ['-q', 'stats', '--help'], ['stats', '--nope', '--help'], ['help', 'stat'], ['help', 'help'], ['help', '--help'], ['import', '--', '--help'], ['stat', '--help'], ['stats', 'help'], ['help', 'stats', 'extra'], []]) {
      expect(frozenHelp(line, snapshot, 80), line.join(' ')).toBeUndefined();
    }
    // The program itself still answers the help ones among them, with the command's page.
    expect(await programHelp(['stats', '1', '--help'], 80)).toBe(frozenHelp(['stats', '--help'], snapshot, 80));
    expect(await programHelp(['-q', 'stats', '--help'], 80)).toBe(frozenHelp(['stats', '--help'], snapshot, 80));
  });
});
