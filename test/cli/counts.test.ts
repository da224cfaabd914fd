import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { beforeEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';

const s = useSendingStack();
beforeEach(async () => {
  await sql`TRUNCATE subscribers, suppressions, campaigns, deliveries RESTART IDENTITY CASCADE`.execute(s.t.db);
  await s.ses.clear();
});

const env = () => ({ ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url, COLUMNS: '80' });

function csv(rows: number): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'marketer-counts-')), 'list.csv');
  const lines = ['email,first_name,timezone,tags'];
  for (let i = 1; i <= rows; i++) lines.push(`user${i}@example.com,User${i},UTC,newsletter`);
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

describe('counts in what the commands print', () => {
  it('one row, one delivery: singular nouns', async () => {
    const file = csv(1);
    const imported = await runCli(['import', file], { env: env() });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain(`${file}: 1 row read.`);
    expect(imported.stdout).not.toMatch(/\b1 rows\b/);

    const { dir, campaignFile } = makeCampaignRepo();
    const sent = await runCli(['send', campaignFile], { cwd: dir, env: env() });
    expect(sent.code, sent.stderr).toBe(0);
    expect(sent.stdout).toContain('Enqueued 1 delivery.');
    expect(sent.stdout).not.toMatch(/\b1 deliveries\b/);

    // A second send finds nobody new: "0 new eligible subscribers", and one new one is singular.
    await sql`INSERT INTO subscribers (email, timezone, tags) VALUES ('late@example.com', 'UTC', '{newsletter}')`.execute(s.t.db);
    const again = await runCli(['send', campaignFile], { cwd: dir, env: env() });
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('Already recorded; 1 new eligible subscriber enqueued, nobody is mailed twice.');
  }, 180_000);

  it('large counts carry thousands separators', async () => {
    const file = csv(12_345);
    const imported = await runCli(['import', file], { env: env(), timeoutMs: 120_000 });
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toContain(`${file}: 12,345 rows read.`);
    expect(imported.stdout).toMatch(/^inserted\s+12,345$/m);

    const { dir, campaignFile } = makeCampaignRepo({ at: '2030-12-01 08:00' });
    const plan = await runCli(['plan', campaignFile], { cwd: dir, env: env() });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('Audience: 12,345 subscribers');
    expect(plan.stdout).toMatch(/UTC\s+12,345/);
  }, 180_000);
});
