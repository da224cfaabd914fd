import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, REPO, cleanEnv, runCli, track } from '../helpers/cli.js';

const dir = mkdtempSync(path.join(tmpdir(), 'marketer-output-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Run the CLI with its stdout's reader already gone, as `marketer … | head -0` would leave it. */
function runIntoClosedPipe(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = track(spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] }));
    // Closed now, long before Node has started in the child: its first write meets EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('answers written without the CLI (--version, help from the snapshot)', () => {
  it('end quietly with 0 when the reader has gone, as do the help lines the program answers', async () => {
    // --version and plain help are written by bin/direct-output.js; `stats 1 --help` is
    // answered by the program's definitions (quick-help), through process.stdout.
    for (const args of [['--version'], ['--help'], ['send', '--help'], ['help', 'db', 'migrate'], ['stats', '1', '--help']]) {
      const r = await runIntoClosedPipe(args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
    }
  });

  it('say in one line, with exit code 1, that the output could not be written (a full disk)', () => {
    // The last is written by the CLI itself, through process.stdout.
    for (const args of [['--version'], ['send', '--help'], ['validate']]) {
      const fd = openSync('/dev/full', 'w');
      try {
        const r = spawnSync(process.execPath, [BIN, ...args], { cwd: REPO, env: cleanEnv(), stdio: ['ignore', fd, 'pipe'], encoding: 'utf8' });
        // (validate warns first that the example has no unsubscribe secret.)
        const said = r.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('warning '));
        expect({ args, status: r.status, said }).toEqual({ args, status: 1, said: ['marketer: cannot write to standard output: ENOSPC: no space left on device, write'] });
      } finally {
        closeSync(fd);
      }
    }
  });

  it('lay help out at 80 columns on a pipe or in a file, and at COLUMNS where it is set', async () => {
    const at80 = await runCli(['send', '--help'], { env: { COLUMNS: '80' } });
    expect(at80.code).toBe(0);
    expect(at80.stdout).toContain('Usage: marketer send');
    const piped = await runCli(['send', '--help'], { env: { COLUMNS: undefined } });
    expect(piped.stdout).toBe(at80.stdout);

    const file = path.join(dir, 'help.txt');
    const fd = openSync(file, 'w');
    try {
      const r = spawnSync(process.execPath, [BIN, 'send', '--help'], { cwd: REPO, env: cleanEnv({ COLUMNS: undefined }), stdio: ['ignore', fd, 'pipe'] });
      expect(r.status, String(r.stderr)).toBe(0);
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(file, 'utf8')).toBe(at80.stdout);

    const at57 = await runCli(['send', '--help'], { env: { COLUMNS: '57' } });
    expect(at57.stdout).not.toBe(at80.stdout);
    expect(Math.max(...at57.stdout.split('\n').map((l) => l.length))).toBeLessThanOrEqual(57);
  });

  it('lay help out at the width of the terminal it runs in', async () => {
    const at57 = await runCli(['send', '--help'], { env: { COLUMNS: '57' } });
    // script(1) gives the CLI a real pseudo-terminal of 57 columns; COLUMNS is not set.
    const line = `stty cols 57 rows 40; exec '${process.execPath}' '${BIN}' send --help`;
    const r = spawnSync('script', ['-qec', line, '/dev/null'], { cwd: REPO, env: cleanEnv({ COLUMNS: undefined }), encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    // The terminal turns each \n into \r\n.
    expect(r.stdout.replace(/\r\n/g, '\n')).toBe(at57.stdout);
  });
});
