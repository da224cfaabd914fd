import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { claimDeliveries, recordResults, recoverExpiredLeases } from '../../src/sending/ledger.js';
import { runCli } from '../helpers/cli.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';

const s = useSendingStack();

describe('the ledger under contention', () => {
  it('a worker whose lease lapsed cannot overwrite the row another worker now holds', async () => {
    await sql`INSERT INTO campaigns (id, name, file, content_hash) VALUES (1, 'c', 'c.yaml', 'h')`.execute(s.t.db);
    await sql`INSERT INTO subscribers (email, tags) VALUES ('a@example.com', '{x}')`.execute(s.t.db);
    await sql`INSERT INTO deliveries (campaign_id, subscriber_id, due_at, timezone) SELECT 1, id, now() - interval '1 minute', 'UTC' FROM subscribers`.execute(s.t.db);
    const [a] = await claimDeliveries(s.t.db, { worker: 'A', limit: 10, now: new Date(), leaseSeconds: 60 });
    expect(a).toBeDefined();
    // A goes silent; its lease lapses; B recovers and claims the row.
    await sql`UPDATE deliveries SET lease_until = now() - interval '1 second'`.execute(s.t.db);
    expect(await recoverExpiredLeases(s.t.db)).toEqual({ requeued: 1, unknown: 0 });
    const [b] = await claimDeliveries(s.t.db, { worker: 'B', limit: 10, now: new Date(), leaseSeconds: 60 });
    expect(b?.id).toBe(a!.id);
    // A wakes up and gives the row back: ignored, B still holds it.
    await recordResults(s.t.db, 'A', [{ id: a!.id, status: 'queued', error: null }]);
    let row = await s.t.db.selectFrom('deliveries').select(['status', 'claimed_by']).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'sending', claimed_by: 'B' });
    await recordResults(s.t.db, 'B', [{ id: b!.id, status: 'sent', messageId: 'm-1', at: new Date() }]);
    row = await s.t.db.selectFrom('deliveries').select(['status', 'claimed_by']).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'sent', claimed_by: null });
  });

  it('a dispatch without --wait ends when SES keeps failing, and a row refused five rounds running fails', async () => {
    await sql`TRUNCATE subscribers, campaigns, deliveries RESTART IDENTITY CASCADE`.execute(s.t.db);
    await sql`INSERT INTO subscribers (email, tags) SELECT 'u' || i || '@example.com', '{newsletter}' FROM generate_series(1, 3) i`.execute(s.t.db);
    s.proxy.faults = { serverError: 1 };
    const { dir, campaignFile } = makeCampaignRepo();
    const r = await runCli(['send', campaignFile, '--json'], { cwd: dir, env: { ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ sent: 0, queued: 3, failed: 0, unknown: 0 });
    // The send took each row round twice (the first refused round is retried at once), then
    // left it for a later dispatch a minute on.
    const rows = await sql<{ error: string; attempts: number; later: boolean }>`SELECT error, attempts, due_at > now() AS later FROM deliveries`.execute(s.t.db);
    expect(rows.rows.every((x) => x.error.startsWith('InternalFailure') && x.attempts === 2 && x.later)).toBe(true);
    // After two more rounds of refusals (as if dispatch had run twice), the fifth gives up.
    await sql`UPDATE deliveries SET attempts = 4, due_at = now()`.execute(s.t.db);
    const last = await runCli(['dispatch', '--json'], { cwd: dir, env: { ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url } });
    expect(JSON.parse(last.stdout)).toMatchObject({ sent: 0, failed: 3 });
    const failed = await sql<{ status: string; error: string }>`SELECT status, error FROM deliveries`.execute(s.t.db);
    expect(failed.rows.every((x) => x.status === 'failed' && x.error.startsWith('gave up after 5 rounds of retries: InternalFailure'))).toBe(true);
    expect(await s.ses.store()).toHaveLength(0);
    // Two rounds of eight attempts with backoff (up to ~13 s each) before the send ends.
  }, 150_000);
});
