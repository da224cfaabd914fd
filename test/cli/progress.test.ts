import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { BIN, cleanEnv, runCli } from '../helpers/cli.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';
import { publish, type MailOptions } from '../fixtures/ses/records.js';

const s = useSendingStack();
beforeEach(async () => {
  await sql`TRUNCATE subscribers, suppressions, campaigns, deliveries, email_events RESTART IDENTITY CASCADE`.execute(s.t.db);
  await s.ses.clear();
});

// A plain progress line on every update instead of every 30 s, so a run of seconds shows several.
const env = (extra: Record<string, string> = {}) => ({ ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url, MARKETER_PROGRESS_SECONDS: '0', ...extra });

async function seed(n: number): Promise<void> {
  await sql`INSERT INTO subscribers (email, first_name, timezone, tags)
            SELECT 'user' || i || '@example.com', 'User' || i, 'UTC', '{newsletter}' FROM generate_series(1, ${n}) i`.execute(s.t.db);
}

/** Quote one argument for the shell line `script` runs. */
const sh = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;

describe('progress without a terminal: plain lines on stderr', () => {
  it('send: done/total, share, pace and ETA', async () => {
    await seed(40);
    const { dir, campaignFile } = makeCampaignRepo();
    const r = await runCli(['send', campaignFile, '--rate', '10'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('Sending '));
    expect(lines.length, r.stderr).toBeGreaterThan(2);
    for (const l of lines) expect(l).toMatch(/^Sending \d+\/40 messages \(\d+\.\d%\)( · [\d.,]+\/s( · ETA \d+s)?)?$/);
    // Once the pace is known, the line carries it and the time left.
    expect(lines.some((l) => /\/40 messages \((?!100)\d+\.\d%\) · \d+(\.\d)?\/s · ETA \d+s$/.test(l)), lines.join('\n')).toBe(true);
    expect(r.stdout).toContain('This run: sent 40');
  }, 180_000);

  it('dispatch --wait: the next wave\'s time while waiting', async () => {
    await seed(3);
    const { dir, campaignFile } = makeCampaignRepo({ at: '2099-12-01 08:00' });
    expect((await runCli(['send', campaignFile], { cwd: dir, env: env() })).code).toBe(0);
    // The wave comes due in a few seconds: enough for dispatch to start first on a busy machine.
    await sql`UPDATE deliveries SET due_at = now() + interval '20 seconds'`.execute(s.t.db);
    const r = await runCli(['dispatch', '--wait'], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^Sending 0\/3 messages \(0\.0%\) · next wave \d\d:\d\d UTC \(in \d+s\)$/m);
    expect(r.stdout).toContain('Dispatched: sent 3');
  }, 180_000);

  it('import: rows read out of an estimate from the file size, share, pace and ETA', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'marketer-progress-')), 'list.csv');
    const lines = ['email,first_name,timezone,tags'];
    for (let i = 1; i <= 30_000; i++) lines.push(`user${i}@example.com,User${i},UTC,newsletter`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const r = await runCli(['import', file], { env: env(), timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const progress = r.stderr.split('\n').filter((l) => l.startsWith('Importing list.csv '));
    expect(progress.length, r.stderr).toBeGreaterThan(3);
    // Pace and ETA appear once two readings are half a second apart: a fast machine reads the
    // whole file sooner (their arithmetic is tested with a clock in progress-meter.test.ts).
    for (const l of progress.slice(0, -1)) expect(l).toMatch(/^Importing list\.csv [\d,]+\/~[\d,]+ rows \(\d+\.\d%\)( · [\d,.]+\/s · ETA \d+s)?$/);
    expect(progress.at(-1)).toMatch(/^Importing list\.csv 30,000\/30,000 rows \(100\.0%\) · .*merging into subscribers…$/);
  }, 180_000);

  it('events ingest: events stored and the share of the file read', async () => {
    const m: MailOptions = { messageId: 'msg-x', to: 'x@example.com', at: '2026-12-01T08:00:00.000Z' };
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'marketer-progress-')), 'events.jsonl');
    const records = [];
    for (let i = 0; i < 9_000; i++) records.push(JSON.stringify(publish.open({ ...m, messageId: `msg-${i}` }, i)));
    writeFileSync(file, `${records.join('\n')}\n`);
    const r = await runCli(['events', 'ingest', file], { env: env(), timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const progress = r.stderr.split('\n').filter((l) => l.startsWith('Ingesting events '));
    expect(progress.length, r.stderr).toBeGreaterThan(1);
    for (const l of progress) expect(l).toMatch(/^Ingesting events [\d,]+ stored \(\d+\.\d%\)( · [\d,.]+\/s( · ETA \d+s)?)?$/);
  }, 180_000);
});

describe('progress in a terminal', () => {
  it('send: the spinner line counts done/total with share, pace and ETA', async () => {
    await seed(40);
    const { dir, campaignFile } = makeCampaignRepo();
    // script(1) runs the send on a real pseudo-terminal, so the spinner is on.
    const command = `stty cols 100 rows 40; exec ${[process.execPath, BIN, 'send', campaignFile, '--rate', '10'].map(sh).join(' ')}`;
    const child = spawn('script', ['-qec', command, '/dev/null'], {
      cwd: dir,
      env: cleanEnv({ ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url, TERM: 'xterm-256color' }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => { screen += d.toString(); });
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code, screen).toBe(0);
    // eslint-disable-next-line no-control-regex
    const text = screen.replace(/\u001b\[[0-9;?]*[A-Za-z]/g, '');
    expect(text).toMatch(/Sending \d+\/40 messages \(\d+\.\d%\) · \d+(\.\d)?\/s · ETA \d+s/);
    expect(text).toContain('This run: sent 40');
  }, 180_000);
});
