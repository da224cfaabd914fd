import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCampaign } from '../../src/campaigns/index.js';
import { loadConfig } from '../../src/config/config.js';
import { recordCampaign } from '../../src/sending/enqueue.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

let t: TestDb;
beforeAll(async () => { t = await createTestDb(); });
afterAll(async () => { await t?.close(); });

describe('recording a new campaign while another run records it too', () => {
  it('waits for the other and finds its row, instead of failing on a duplicate key', async () => {
    const repo = makeCampaignRepo();
    const config = loadConfig({ cwd: repo.dir, env: { DATABASE_URL: t.url, MARKETER_UNSUBSCRIBE_SECRET: 's', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u' } });
    const campaign = await loadCampaign(repo.campaignFile, config);
    // Another send has inserted the campaign row and not committed yet.
    const other = await t.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query(`INSERT INTO campaigns (id, name, file, content_hash, status) VALUES ($1, $2, $3, $4, 'running')`,
        [campaign.id, campaign.name, campaign.relFile, campaign.contentHash]);
      const ours = recordCampaign(t.db, campaign);
      // Ours must be waiting on the other's row, not done and not failed.
      const state = await Promise.race([ours.then(() => 'settled', () => 'settled'), new Promise((r) => setTimeout(() => r('waiting'), 500))]);
      expect(state).toBe('waiting');
      await other.query('COMMIT');
      expect(await ours).toEqual({ created: false, resumed: false, changedAccepted: false });
    } finally {
      other.release();
    }
    const rows = await sql<{ n: number }>`SELECT count(*)::int AS n FROM campaigns WHERE id = ${campaign.id}`.execute(t.db);
    expect(rows.rows[0]!.n).toBe(1);
    // A later run finds the row as before.
    expect(await recordCampaign(t.db, campaign)).toEqual({ created: false, resumed: false, changedAccepted: false });
  });
});
