import { spawn } from 'node:child_process';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { BIN, cleanEnv } from '../helpers/cli.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';

const s = useSendingStack();

/** Quote one argument for the shell line `script` runs. */
const sh = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

describe('Ctrl-C in a terminal', () => {
  it('stops a send while the spinner shows: what was sent is recorded, the rest is queued, exit 130', async () => {
    await sql`INSERT INTO subscribers (email, first_name, timezone, tags)
              SELECT 'user' || i || '@example.com', 'User' || i, 'UTC', '{newsletter}' FROM generate_series(1, 300) i`.execute(s.t.db);
    const { dir, campaignFile } = makeCampaignRepo();
    // script(1) runs the send on a real pseudo-terminal (so the spinner is on) and copies what
    // is written to its stdin into the terminal: a 0x03 there is the user pressing Ctrl-C.
    const command = `stty cols 120 rows 40; exec ${[process.execPath, BIN, 'send', campaignFile, '--rate', '30'].map(sh).join(' ')}`;
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: dir,
      env: cleanEnv({ ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url, MARKETER_LEASE_SECONDS: '5', TERM: 'xterm-256color' }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => { screen += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    while (s.proxy.answered.forwarded < 20 || !screen.includes('Sending ')) await new Promise((r) => setTimeout(r, 20));
    child.stdin.write('\x03');
    expect(await exited, screen).toBe(130);
    expect(screen).toContain('Stopping: finishing the messages in flight');
    const { rows } = await sql<{ status: string; n: number }>`SELECT status, count(*)::int AS n FROM deliveries GROUP BY status`.execute(s.t.db);
    const counts = Object.fromEntries(rows.map((r) => [r.status, r.n]));
    // Had the ^C been swallowed, the run would have gone on to send all 300.
    expect(counts.queued ?? 0).toBeGreaterThan(0);
    expect(counts.sending ?? 0).toBe(0);
    expect(counts.unknown ?? 0).toBe(0);
    expect((counts.sent ?? 0) + (counts.queued ?? 0)).toBe(300);
    expect((await s.ses.store()).length).toBe(counts.sent);
  });
});
