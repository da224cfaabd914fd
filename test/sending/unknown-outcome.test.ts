import { sql } from 'kysely';
import { beforeAll, describe, expect, it } from 'vitest';
import { compileCampaign, loadCampaign } from '../../src/campaigns/index.js';
import { loadConfig } from '../../src/config/config.js';
import { dispatch } from '../../src/sending/dispatch.js';
import { enqueueDeliveries, recordCampaign } from '../../src/sending/enqueue.js';
import { classifySesError, SesMailer } from '../../src/sending/ses-mailer.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';
import { sesEnv, useSendingStack } from '../helpers/ses.js';

const s = useSendingStack({ hangAfterForward: true });
beforeAll(() => {
  process.env.AWS_ACCESS_KEY_ID = 'AKIDLOCAL';
  process.env.AWS_SECRET_ACCESS_KEY = 'local-secret';
});

describe('a send whose outcome is unknown', () => {
  it('is marked unknown when SES does not answer, and is never sent again automatically', async () => {
    await sql`INSERT INTO subscribers (email, timezone, tags) SELECT 'u' || i || '@example.com', 'UTC', '{newsletter}' FROM generate_series(1, 5) i`.execute(s.t.db);
    const repo = makeCampaignRepo();
    const config = loadConfig({ cwd: repo.dir, env: { ...sesEnv(s.proxy.endpoint), DATABASE_URL: s.t.url } });
    const campaign = await loadCampaign(repo.campaignFile, config);
    await recordCampaign(s.t.db, campaign);
    await enqueueDeliveries(s.t.db, campaign, new Date());
    const compiled = await compileCampaign(campaign, config);
    const mailer = new SesMailer({ region: 'us-east-1', endpoint: s.proxy.endpoint, configurationSet: undefined, maxSockets: 4, requestTimeoutMs: 400 });
    const run = () => dispatch({ db: s.t.db, mailer, config, compile: async () => compiled }, { worker: 'w', concurrency: 4, rate: 100, wait: false });

    const first = await run();
    expect(first).toMatchObject({ sent: 0, unknown: 5, retries: 0 });
    // The requests did reach SES: resending would have mailed these people twice.
    expect(await s.ses.store()).toHaveLength(5);
    const rows = await s.t.db.selectFrom('deliveries').select(['status', 'error', 'attempts']).execute();
    expect(rows.every((r) => r.status === 'unknown' && r.attempts === 1)).toBe(true);
    expect(rows[0]?.error).toMatch(/TimeoutError|timeout/i);

    s.proxy.faults = {};
    const second = await run();
    expect(second.sent).toBe(0);
    expect(await s.ses.store()).toHaveLength(5);
    await mailer.close();
  });

  it('classifies SES answers by whether the mail could have been accepted', () => {
    const err = (name: string, status?: number, code?: string) => Object.assign(new Error(name), { name, code, $metadata: { httpStatusCode: status } });
    expect(classifySesError(err('TooManyRequestsException', 429))).toMatchObject({ kind: 'retry', throttled: true });
    expect(classifySesError(err('LimitExceededException', 400))).toMatchObject({ kind: 'retry', throttled: true });
    expect(classifySesError(err('InternalFailure', 500))).toMatchObject({ kind: 'retry', throttled: false });
    expect(classifySesError(err('Error', undefined, 'ECONNREFUSED'))).toMatchObject({ kind: 'retry' });
    expect(classifySesError(err('MessageRejected', 400))).toMatchObject({ kind: 'failed' });
    expect(classifySesError(err('BadRequestException', 400))).toMatchObject({ kind: 'failed' });
    expect(classifySesError(err('SendingPausedException', 400))).toMatchObject({ kind: 'fatal' });
    expect(classifySesError(err('AccountSuspendedException', 400))).toMatchObject({ kind: 'fatal' });
    expect(classifySesError(err('NotFoundException', 404))).toMatchObject({ kind: 'fatal' });
    expect(classifySesError(err('ExpiredTokenException', 403))).toMatchObject({ kind: 'fatal' });
    expect(classifySesError(err('CredentialsProviderError'))).toMatchObject({ kind: 'fatal' });
    expect(classifySesError(Object.assign(new Error('@smithy/node-http-handler - the request socket did not establish a connection with the server within the configured timeout of 5000 ms.'), { name: 'TimeoutError' }))).toMatchObject({ kind: 'retry' });
    expect(classifySesError(err('TimeoutError'))).toMatchObject({ kind: 'unknown' });
    expect(classifySesError(err('Error', undefined, 'ECONNRESET'))).toMatchObject({ kind: 'unknown' });
  });
});
