import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

// Node 22.1+ keeps compiled code itself (bin/marketer.js turns that on); bin/code-cache.js is
// for a Node without it, such as the Node 20 the tests and CI run on.
const nodeHasItsOwn = typeof (createRequire(import.meta.url)('node:module') as { enableCompileCache?: unknown }).enableCompileCache === 'function';
if (nodeHasItsOwn) console.warn(`skipped: Node ${process.version} keeps compiled code itself; bin/code-cache.js is not used`);

/** A run of `validate` on the example repository with the cache in `cacheHome`. */
async function validate(cacheHome: string, env: Record<string, string> = {}) {
  const r = await runCli(['validate'], { env: { XDG_CACHE_HOME: cacheHome, MARKETER_DEBUG: 'startup', ...env } });
  const said = r.stderr.split('\n').find((l) => l.startsWith('code cache: '));
  const rest = r.stderr.split('\n').filter((l) => !l.startsWith('code cache: ') && !l.startsWith('startup: ')).join('\n');
  return { code: r.code, stdout: r.stdout, stderr: rest, said };
}

const folderOf = (home: string) => path.join(home, 'marketer', 'code-cache');
const filesIn = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.bin'));

describe.skipIf(nodeHasItsOwn)('the CLI keeps V8\'s compiled code between runs', () => {
  it('writes it after the first run of a command, uses it in the next, and prints the same either way', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'marketer-code-cache-'));
    const first = await validate(home);
    expect(first.code).toBe(0);
    expect(first.said).toMatch(/^code cache: none yet/);
    const dir = folderOf(home);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    const [file] = filesIn(dir);
    expect(file).toMatch(/-validate\.bin$/);
    expect(statSync(path.join(dir, file!)).mode & 0o777).toBe(0o600);

    const second = await validate(home);
    expect(second.said).toMatch(/^code cache: used/);
    // validate compiles the example campaign: MJML in its worker, and html-to-text, which the
    // CLI loads with import() (through the loader's import(), as code from the cache must).
    expect(second.stdout).toContain('OK campaigns/weekly.yaml');
    expect({ ...second, said: undefined }).toEqual({ ...first, said: undefined });
    // One file per command: another command starts without one and writes its own.
    const other = await runCli(['stats', 'no-such-campaign.yaml'], { env: { XDG_CACHE_HOME: home, MARKETER_DEBUG: 'startup' } });
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/code cache: none yet .*-stats\.bin/);
    expect(filesIn(dir)).toHaveLength(2);
    expect(filesIn(dir)).toEqual(expect.arrayContaining([file, expect.stringMatching(/-stats\.bin$/)]));
    // A mistyped command is a usage error, and no file of its own.
    expect((await runCli(['stat', '1'], { env: { XDG_CACHE_HOME: home } })).code).toBe(2);
    expect(filesIn(dir)).toHaveLength(2);
  }, 120_000);

  it('a cache file that is garbage, or holds code V8 will not take, costs only its rewriting', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'marketer-code-cache-'));
    const clean = await validate(home);
    const dir = folderOf(home);
    const file = path.join(dir, filesIn(dir)[0]!);

    writeFileSync(file, Buffer.from('not a code cache at all'));
    const garbage = await validate(home);
    expect(garbage.said).toMatch(/^code cache: none yet/);
    expect({ ...garbage, said: undefined }).toEqual({ ...clean, said: undefined });

    // The right header (what the file is for) over bytes that are not V8's.
    const good = readFileSync(file);
    const headLength = 4 + good.readUInt32LE(0);
    const forged = Buffer.concat([good.subarray(0, headLength), Buffer.alloc(good.length - headLength, 7)]);
    writeFileSync(file, forged);
    const rejected = await validate(home);
    expect(rejected.said).toMatch(/^code cache: rejected by V8/);
    expect({ ...rejected, said: undefined }).toEqual({ ...clean, said: undefined });
    expect(readFileSync(file).equals(forged)).toBe(false);
    expect((await validate(home)).said).toMatch(/^code cache: used/);
  }, 120_000);

  it('uses no folder that others can write to, and none at all when NODE_DISABLE_COMPILE_CACHE is set', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'marketer-code-cache-'));
    const dir = folderOf(home);
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    const open = await validate(home);
    expect(open.code).toBe(0);
    expect(open.said).toBe(`code cache: off, ${dir} is writable by others`);
    expect(filesIn(dir)).toEqual([]);

    const other = mkdtempSync(path.join(tmpdir(), 'marketer-code-cache-'));
    const off = await validate(other, { NODE_DISABLE_COMPILE_CACHE: '1' });
    expect(off.code).toBe(0);
    expect(off.said).toBe('code cache: off, NODE_DISABLE_COMPILE_CACHE is set');
    expect(readdirSync(other)).toEqual([]);
  }, 120_000);

  it('deletes the files no run has used for 30 days when it writes one, and keeps those in use', async () => {
    const home = mkdtempSync(path.join(tmpdir(), 'marketer-code-cache-'));
    await validate(home);
    const dir = folderOf(home);
    const inUse = path.join(dir, filesIn(dir)[0]!);
    const daysAgo = (days: number) => new Date(Date.now() - days * 24 * 60 * 60 * 1000);
    // An older install's files: one last used 40 days ago, one 10 days ago; and a file that
    // is not a cache file at all, however old.
    const stale = path.join(dir, '0badcafe-send.bin');
    const recent = path.join(dir, '0badcafe-import.bin');
    const foreign = path.join(dir, 'notes.txt');
    for (const file of [stale, recent, foreign]) {
      writeFileSync(file, 'x');
      utimesSync(file, daysAgo(40), daysAgo(file === recent ? 10 : 40));
    }
    // This install's file, used now after 40 days without a run: its time is brought up to date.
    utimesSync(inUse, daysAgo(40), daysAgo(40));
    expect((await validate(home)).said).toMatch(/^code cache: used/);
    expect(Date.now() - statSync(inUse).mtimeMs).toBeLessThan(60 * 60 * 1000);

    // A command's first run writes its file, and the unused ones go.
    const stats = await runCli(['stats', 'no-such-campaign.yaml'], { env: { XDG_CACHE_HOME: home } });
    expect(stats.code).toBe(2);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(recent)).toBe(true);
    expect(existsSync(foreign)).toBe(true);
    expect(existsSync(inUse)).toBe(true);
    expect(filesIn(dir)).toEqual(expect.arrayContaining([expect.stringMatching(/-stats\.bin$/)]));
  }, 120_000);
});
