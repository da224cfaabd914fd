import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { REPO, runCli } from '../helpers/cli.js';

const version = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
const COMMANDS = ['init', 'import', 'subscribers', 'validate', 'preview', 'doctor', 'plan', 'send', 'apply', 'dispatch', 'events', 'stats', 'report', 'serve', 'db'];

describe('the quick answers', () => {
  it('--version and -V print the package version and nothing else', async () => {
    for (const flag of ['--version', '-V']) {
      const r = await runCli([flag]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`${version}\n`);
      expect(r.stderr).toBe('');
    }
    // With a global option before it, commander answers it the same way.
    const r = await runCli(['-q', '--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${version}\n`);
  });

  it('--help lists every command, in the order of the work, within 80 columns', async () => {
    const r = await runCli(['--help'], { env: { COLUMNS: '80' } });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const section = r.stdout.slice(r.stdout.indexOf('\nCommands:\n'), r.stdout.indexOf('\nExamples:\n'));
    const listed = [...section.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]);
    expect(listed.filter((c) => c !== 'help')).toEqual(COMMANDS);
    expect(r.stdout).toContain('Usage: marketer [options] [command]');
    expect(r.stdout).toContain('$ marketer stats 42');
    expect(r.stdout.split('\n').filter((l) => [...l].length > 80)).toEqual([]);
    // `marketer help` is the same page.
    expect((await runCli(['help'], { env: { COLUMNS: '80' } })).stdout).toBe(r.stdout);
  });

  it('a command\'s help shows its options and examples', async () => {
    const r = await runCli(['stats', '--help'], { env: { COLUMNS: '80' } });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: marketer stats \[options\] \[campaign\]/);
    expect(r.stdout).toContain('--since <when>');
    expect(r.stdout).toContain('$ marketer stats 42 --json | jq .rates');
    expect((await runCli(['help', 'stats'], { env: { COLUMNS: '80' } })).stdout).toBe(r.stdout);
  });

  it('help asked for anywhere on the line is the help of the command it names', async () => {
    const stats = (await runCli(['stats', '--help'], { env: { COLUMNS: '80' } })).stdout;
    for (const line of [['stats', '-h'], ['stats', '1', '--help'], ['stats', '--nope', '--help'], ['-q', 'stats', '--help']]) {
      const r = await runCli(line, { env: { COLUMNS: '80' } });
      expect(r.code, line.join(' ')).toBe(0);
      expect(r.stdout, line.join(' ')).toBe(stats);
    }
    const nested = await runCli(['db', 'migrate', '--help'], { env: { COLUMNS: '80' } });
    expect(nested.code).toBe(0);
    expect(nested.stdout).toMatch(/^Usage: marketer db migrate \[options\]/);
    expect((await runCli(['db', 'migrate', '-h'], { env: { COLUMNS: '80' } })).stdout).toBe(nested.stdout);
  });

  it('a line that mentions help but asks for something else does that, once', async () => {
    // A file named --help (after "--"): the command runs and says the file is missing.
    const file = await runCli(['import', '--', '--help']);
    expect(file.code).toBe(2);
    expect(file.stdout).toBe('');
    expect(file.stderr).toContain('Cannot read --help: no such file.');
    // A bad option value before --help is reported as ever, and only once.
    const bad = await runCli(['send', '--rate', 'abc', '--help']);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr.match(/--rate must be a positive number/g)).toHaveLength(1);
    // --version read before the help flag takes effect: the version, printed once.
    const v = await runCli(['-h', '--version']);
    expect(v.code).toBe(0);
    expect(v.stdout).toBe(`${version}\n`);
    // A mistyped command after `help`: the overall help on stderr, a usage error.
    const unknown = await runCli(['help', 'stat']);
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe('');
    expect(unknown.stderr).toContain('Usage: marketer [options] [command]');
  });
});

describe('errors keep their form and exit codes', () => {
  it('an unknown command or option is a usage error (2) with the help after it', async () => {
    const unknown = await runCli(['stat', '1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("error: unknown command 'stat'");
    expect(unknown.stderr).toContain('(Did you mean stats?)');
    const option = await runCli(['stats', '--nope']);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("error: unknown option '--nope'");
  });

  it('a command\'s own error is printed with its hint, or as JSON with --json, and exits 2', async () => {
    const r = await runCli(['stats', 'no-such-campaign.yaml']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('error "no-such-campaign.yaml" is neither a campaign id nor a readable campaign file.');
    expect(r.stderr).toContain('hint Pass the numeric id (marketer stats 42)');
    const json = await runCli(['stats', 'no-such-campaign.yaml', '--json']);
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout)).toMatchObject({ error: { code: 'CAMPAIGN_REF', details: [], hint: expect.stringContaining('marketer stats 42') } });
  });

  it('a database that cannot be reached is reported with its address masked, and exits 1', async () => {
    const r = await runCli(['stats', '1'], { env: { DATABASE_URL: 'postgres://someone:hunter2@127.0.0.1:9/none' }, timeoutMs: 120_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error Cannot use the database at postgres://someone:***@127.0.0.1:9/none: connect ECONNREFUSED');
    expect(r.stderr).toContain('hint Check DATABASE_URL');
    expect(r.stderr).not.toContain('hunter2');
  }, 130_000);
});

/**
 * bin/marketer.js runs dist/cli/cli.cjs, the whole CLI in one CommonJS file; a build without that
 * step runs dist/cli/main.js, tsc's ES modules. Both must be the same CLI, down to the paths made
 * from import.meta.url (package.json for the version, schema.sql, the scaffold).
 */
describe('the one-file CLI', () => {
  const cjs = path.join(REPO, 'dist', 'cli', 'cli.cjs');
  const esm = path.join(REPO, 'dist', 'cli', 'main.js');
  /** The CLI with one command alone, which bin/marketer.js runs for a line that names it. */
  const own = (command: string) => path.join(REPO, 'dist', 'cli', 'command', `${command}.cjs`);
  const run = (entry: 'cjs' | 'own' | 'esm', args: string[], cwd: string) => {
    const file = entry === 'own' ? own(args[0]!) : cjs;
    const load = entry === 'esm' ? `import(${JSON.stringify(pathToFileURL(esm).href)})` : `Promise.resolve(require(${JSON.stringify(file)}))`;
    const script = `${load}.then((m) => m.main(['node', 'marketer', ...${JSON.stringify(args)}])).then((code) => { process.exitCode = code; })`;
    const r = spawnSync(process.execPath, ['-e', script], { cwd, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', COLUMNS: '80' }, timeout: 60_000 });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it.runIf(existsSync(cjs))('answers as the ES modules do: init (the scaffold), validate, preview, a usage error', () => {
    const dirs = { cjs: mkdtempSync(path.join(tmpdir(), 'marketer-cjs-')), esm: mkdtempSync(path.join(tmpdir(), 'marketer-esm-')) };
    for (const entry of ['cjs', 'esm'] as const) expect(run(entry, ['init', '.'], dirs[entry]).code).toBe(0);
    expect(readdirSync(dirs.cjs).sort()).toEqual(readdirSync(dirs.esm).sort());
    const scaffold = readdirSync(dirs.cjs).sort();
    for (const args of [['validate'], ['preview', 'campaigns/welcome.yaml', '--sample', '--text'], ['stats', '--tz', 'Nowhere/Else'], ['stats', '--nope'], ['nonsense']]) {
      const [a, b] = [run('cjs', args, dirs.cjs), run('esm', args, dirs.esm)];
      expect({ args, ...a }).toEqual({ args, ...b });
      if (existsSync(own(args[0]!))) expect({ args, ...run('own', args, dirs.cjs) }).toEqual({ args, ...b });
    }
    expect(run('cjs', ['validate'], dirs.cjs).stdout).toContain('OK campaigns/welcome.yaml');
    // init, through its own file, makes the same scaffold.
    const ownInit = mkdtempSync(path.join(tmpdir(), 'marketer-own-'));
    expect(run('own', ['init', '.'], ownInit).code).toBe(0);
    expect(readdirSync(ownInit).sort()).toEqual(scaffold);
  }, 120_000);

  it.runIf(existsSync(cjs))('every command has a file of its own, which bin runs for a line that names it; any other line runs the whole CLI', async () => {
    const { commandNames } = createRequire(import.meta.url)(cjs) as { commandNames: string[] };
    expect(commandNames).toEqual(expect.arrayContaining(['init', 'import', 'send', 'stats', 'events', 'db']));
    for (const name of commandNames) {
      expect(existsSync(own(name)), name).toBe(true);
      // It answers for its own command only.
      expect((createRequire(import.meta.url)(own(name)) as { commandNames: string[] }).commandNames).toEqual([name]);
    }
    const cliFile = async (args: string[]) => {
      const r = await runCli(args, { env: { MARKETER_DEBUG: 'startup', DATABASE_URL: 'postgres://nobody@127.0.0.1:9/none' } });
      return r.stderr.split('\n').find((l) => l.startsWith('cli: '));
    };
    expect(await cliFile(['stats', '--tz', 'Nowhere/Else'])).toBe(`cli: ${own('stats')}`);
    expect(await cliFile(['-q', 'validate', 'no-such.yaml'])).toBe(`cli: ${own('validate')}`);
    expect(await cliFile(['stat', '1'])).toBe(`cli: ${cjs}`);
    expect(await cliFile([])).toBe(`cli: ${cjs}`);
  }, 120_000);
});
