import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { sesEnv, startSesEmulator, type SesEmulator } from '../helpers/ses.js';

let t: TestDb;
let ses: SesEmulator;
let sandbox: SesEmulator;

beforeAll(async () => {
  t = await createTestDb();
  ses = await startSesEmulator();
  sandbox = await startSesEmulator({
    DedicatedIpAutoWarmupEnabled: false,
    Details: { AdditionalContactEmailAddresses: [], ContactLanguage: 'EN', MailType: 'MARKETING', ReviewDetails: { CaseId: '1', Status: 'PENDING' }, UseCaseDescription: 'x', WebsiteURL: 'https://example.com' },
    EnforcementStatus: 'HEALTHY', ProductionAccessEnabled: false, SendingEnabled: true,
    SendQuota: { Max24HourSend: 200, MaxSendRate: 1, SentLast24Hours: 198 },
    SuppressionAttributes: { SuppressedReasons: [] },
  });
  const zones = ['Asia/Kathmandu', 'Asia/Kathmandu', 'Europe/Berlin', 'America/St_Johns'];
  for (const [i, z] of zones.entries()) {
    await sql`INSERT INTO subscribers (email, timezone, tags) VALUES (${`p${i}@example.com`}, ${z}, '{newsletter}')`.execute(t.db);
  }
  await sql`INSERT INTO subscribers (email, timezone, tags, status) VALUES ('gone@example.com', 'UTC', '{newsletter}', 'unsubscribed'), ('bounced@example.com', 'UTC', '{newsletter}', 'bounced')`.execute(t.db);
  await sql`INSERT INTO subscribers (email, timezone, tags) VALUES ('sup@example.com', 'UTC', '{newsletter}'), ('other@example.com', 'UTC', '{other}')`.execute(t.db);
  await sql`INSERT INTO suppressions (email_hash, reason) VALUES (marketer_address_hash('sup@example.com'), 'forgotten')`.execute(t.db);
});
afterAll(async () => {
  await ses?.stop();
  await sandbox?.stop();
  await t?.close();
});

describe('marketer plan', () => {
  it('shows audience, exclusions, waves by UTC fire time, quota and checks, and writes nothing', async () => {
    const { dir, campaignFile } = makeCampaignRepo({ at: '2030-12-01 08:00' });
    const r = await runCli(['plan', campaignFile, '--json'], { cwd: dir, env: { ...sesEnv(ses.endpoint), DATABASE_URL: t.url } });
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(r.stdout);
    expect(plan).toMatchObject({
      campaign: 7,
      audience: 4,
      excluded: { suppressed: 1, unsubscribed: 1, bounced: 1, complained: 0, not_matching: 1 },
      late: 0,
      skipped: 0,
      already_enqueued: 0,
      quota: { transport: 'ses', max_24_hour_send: 50000, sent_last_24_hours: 120, remaining: 49880, max_send_rate: 200, fits: true },
    });
    expect(plan.waves).toEqual([
      { local_time: '2030-12-01T08:00', fire_at: '2030-12-01T02:15:00Z', timezones: ['Asia/Kathmandu'], count: 2, late: false, skipped: false },
      { local_time: '2030-12-01T08:00', fire_at: '2030-12-01T07:00:00Z', timezones: ['Europe/Berlin'], count: 1, late: false, skipped: false },
      { local_time: '2030-12-01T08:00', fire_at: '2030-12-01T11:30:00Z', timezones: ['America/St_Johns'], count: 1, late: false, skipped: false },
    ]);
    const checks = Object.fromEntries(plan.checks.map((c: { name: string; ok: boolean }) => [c.name, c.ok]));
    // aws-ses-v2-local has no GetEmailIdentity: the sender check passes with a warning that it could not look.
    expect(checks).toEqual({ 'from address': true, 'text part': true, 'unsubscribe link in body': true, 'List-Unsubscribe headers': true, 'sender identity': true });
    expect(plan.checks.find((c: { name: string }) => c.name === 'sender identity')).toMatchObject({ warning: true, detail: expect.stringContaining('not checked') });
    const n = await sql<{ n: number }>`SELECT (SELECT count(*) FROM deliveries) + (SELECT count(*) FROM campaigns) AS n`.execute(t.db);
    expect(Number(n.rows[0]?.n)).toBe(0);
  });

  it('counts late and skipped waves and flags a quota the campaign does not fit', async () => {
    // Kathmandu's 08:00 on a past day is more than late_grace ago; with late: skip it is skipped.
    const { dir, campaignFile } = makeCampaignRepo({ at: '2020-01-01 08:00', late: 'skip', lateGrace: '1h' });
    const r = await runCli(['plan', campaignFile, '--json'], { cwd: dir, env: { ...sesEnv(sandbox.endpoint), DATABASE_URL: t.url } });
    const plan = JSON.parse(r.stdout);
    expect(plan).toMatchObject({ audience: 4, late: 0, skipped: 4 });
    expect(plan.quota).toMatchObject({ remaining: 2, fits: false, production_access: false });
    expect(plan.quota.detail).toContain('needs 4 sends but only 2 are left in the 24-hour quota');
  });

  it('says what a re-send would do after a send: nothing', async () => {
    const { dir, campaignFile } = makeCampaignRepo({ at: '2030-12-01 08:00' });
    const env = { ...sesEnv(ses.endpoint), DATABASE_URL: t.url };
    expect((await runCli(['send', campaignFile, '--json'], { cwd: dir, env })).code).toBe(0);
    const r = await runCli(['plan', campaignFile], { cwd: dir, env });
    expect(r.stdout).toContain('Already enqueued: 4 (status running); sending again would add 0 new subscribers and mail nobody twice.');
    expect(r.stdout).toContain('2030-12-01 02:15Z');
  });
});
