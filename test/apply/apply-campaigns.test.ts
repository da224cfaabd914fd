import path from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyCampaigns } from '../../src/apply/apply-campaigns.js';
import { compileCampaign, loadCampaign } from '../../src/campaigns/index.js';
import { configFor, MARKETING_ENV, project, TEMPLATE } from '../campaigns/fixtures.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
  await sql`INSERT INTO subscribers (email, timezone, tags) SELECT 'p' || i || '@example.com', 'UTC', '{}' FROM generate_series(1, 50) i`.execute(t.db);
});
afterAll(async () => {
  await t?.close();
});

describe('applyCampaigns', () => {
  it('two runs applying the same new campaign at once record it once and enqueue each subscriber once', async () => {
    const dir = project({
      'templates/t.mjml': TEMPLATE,
      'campaigns/a.yaml': 'id: 31\nname: Race\nsubject: Hi\nfrom: "News <news@example.com>"\ntemplate: templates/t.mjml\n',
    });
    const config = configFor(dir, MARKETING_ENV);
    const compiled = await compileCampaign(await loadCampaign(path.join(dir, 'campaigns/a.yaml'), config), config);
    const now = new Date();
    for (let round = 0; round < 5; round++) {
      await sql`DELETE FROM deliveries WHERE campaign_id = 31`.execute(t.db);
      await sql`DELETE FROM campaigns WHERE id = 31`.execute(t.db);
      const runs = await Promise.all([0, 1, 2].map(() => applyCampaigns(t.db, [{ compiled, change: 'added' }], { now, plan: false })));
      expect(runs.map((r) => r.refused)).toEqual([[], [], []]);
      expect(runs.filter((r) => r.applied[0]!.created)).toHaveLength(1);
      expect(runs.reduce((n, r) => n + r.applied[0]!.enqueued, 0)).toBe(50);
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM deliveries WHERE campaign_id = 31`.execute(t.db);
      expect(rows[0]!.n).toBe(50);
    }
  });
});
