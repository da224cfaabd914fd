import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { runCli, type CliResult } from '../helpers/cli.js';
import { campaignYaml, makeCampaignRepo } from '../helpers/campaign-repo.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';

const s = useSendingStack();
beforeEach(async () => {
  await sql`TRUNCATE subscribers, suppressions, campaigns, deliveries RESTART IDENTITY CASCADE`.execute(s.t.db);
  await s.ses.clear();
});

const env = (extra: Record<string, string> = {}) => ({ ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url, COLUMNS: '80', ...extra });
/** Lines a user would see spill past 80 columns, on either stream. */
const tooWide = (r: CliResult) => `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => [...l].length > 80);

// Fourteen zones one hour ahead of UTC in December: one wave whose zone list alone is wider than 80.
const CET = ['Europe/Amsterdam', 'Europe/Andorra', 'Europe/Belgrade', 'Europe/Berlin', 'Europe/Bratislava', 'Europe/Brussels', 'Europe/Budapest',
  'Europe/Copenhagen', 'Europe/Ljubljana', 'Europe/Luxembourg', 'Europe/Madrid', 'Europe/Malta', 'Europe/Monaco', 'Europe/Oslo'];

async function seedZones(): Promise<void> {
  for (const [i, z] of [...CET, 'Asia/Kathmandu', 'Pacific/Chatham', 'America/St_Johns'].entries()) {
    await sql`INSERT INTO subscribers (email, timezone, tags) VALUES (${`p${i}@example.com`}, ${z}, '{newsletter}')`.execute(s.t.db);
  }
  await sql`INSERT INTO subscribers (email, timezone, tags, status) VALUES ('gone@example.com', 'UTC', '{newsletter}', 'unsubscribed'), ('other@example.com', 'UTC', '{other}', 'active')`.execute(s.t.db);
}

describe('at COLUMNS=80 every summary line fits', () => {
  it('plan: the audience line and a wave of fourteen zones', async () => {
    await seedZones();
    const { dir, campaignFile } = makeCampaignRepo({ at: '2030-12-01 08:00' });
    const r = await runCli(['plan', campaignFile], { cwd: dir, env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(tooWide(r)).toEqual([]);
    expect(r.stdout).toContain('Audience: 17 subscribers\n  excluded: 1 not matching tags, 1 unsubscribed, 0 bounced, 0 complained,');
    // The CET wave names the zones that fit and counts the rest.
    const wave = r.stdout.split('\n').find((l) => l.includes('Europe/Amsterdam'))!;
    expect(wave).toMatch(/^2030-12-01 08:00 {2}2030-12-01 07:00Z {2}Europe\/Amsterdam(, \S+)* \+\d+ +14$/);
  }, 180_000);

  it('send, dispatch and stats: summaries, the later-waves note and the waves table', async () => {
    await seedZones();
    // Hours ago in Kathmandu, hours ahead in Europe and America: send leaves later waves queued.
    const at = new Date(Date.now() + 3 * 3600_000).toISOString();
    const { dir, campaignFile } = makeCampaignRepo({ at: `${at.slice(0, 10)} ${at.slice(11, 16)}` });
    const sent = await runCli(['send', campaignFile], { cwd: dir, env: env() });
    expect(sent.code, sent.stderr).toBe(0);
    expect(tooWide(sent)).toEqual([]);
    expect(sent.stdout).toContain('Enqueued 17 deliveries.');
    expect(sent.stdout).toMatch(/^1[45] wait for later waves: run "marketer dispatch" on a schedule, or send with\n {2}--wait\.$/m);

    await sql`UPDATE deliveries SET due_at = now() - interval '1 minute' WHERE subscriber_id IN (SELECT id FROM subscribers WHERE timezone = 'Europe/Berlin')`.execute(s.t.db);
    const dispatched = await runCli(['dispatch'], { cwd: dir, env: env() });
    expect(dispatched.code, dispatched.stderr).toBe(0);
    expect(tooWide(dispatched)).toEqual([]);
    expect(dispatched.stdout).toMatch(/^Dispatched: sent 1 · /m);

    const stats = await runCli(['stats', '7'], { cwd: dir, env: env() });
    expect(stats.code, stats.stderr).toBe(0);
    expect(tooWide(stats)).toEqual([]);
    expect(stats.stdout).toMatch(/^ {2}Zone +Local time +Rcpts +Deliv +Opened +Click +Bounce +Unsent$/m);
  }, 180_000);

  it('import: the summary and every rejected or warned row', async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), 'marketer-width-')), 'list.csv');
    writeFileSync(file, [
      'email,first_name,timezone,tags',
      'ok@example.com,Ok,UTC,newsletter',
      'not-an-address,Bad,UTC,newsletter',
      'zone@example.com,Zone,Europe/Atlantis_Is_Not_A_Real_Place_At_All,newsletter',
      `long@example.com,${'x'.repeat(300)},UTC,newsletter`,
      'postmaster@example.com,Role,UTC,newsletter',
    ].join('\n'));
    const r = await runCli(['import', file], { env: env() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Rejected:\n {2}line \d/);
    expect(r.stdout).toMatch(/Warnings:\n {2}line \d/);
    expect(tooWide(r)).toEqual([]);
  }, 180_000);

  it('validate: every problem, wrapped under its file and line', async () => {
    const { dir, campaignFile } = makeCampaignRepo();
    writeFileSync(campaignFile, `${campaignYaml({ at: '2030-12-01 08:00', timezone: 'Europe/Atlantis' })}reply_to: not an address\n`);
    const r = await runCli(['validate', campaignFile], { cwd: dir, env: env() });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ {2}campaigns\/c\.yaml:\d+:\d+: schedule\.timezone "Europe\/Atlantis" is not an IANA/m);
    expect(r.stderr).toMatch(/\n {4}\S/);
    expect(tooWide(r)).toEqual([]);
  }, 180_000);
});
