import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  AccountWatch, accountGate, accountStopped, isAccountStopError, judgeAccount, liftAccountStop, stopAccount, type AccountState,
} from '../../../src/sending/policy/account-stop.js';
import { createTestDb, type TestDb } from '../../helpers/db.js';

let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t?.close();
});
beforeEach(async () => {
  await sql`TRUNCATE campaigns, account_stop`.execute(t.db);
  for (const [id, status] of [[1, 'running'], [2, 'running'], [3, 'done'], [4, 'paused']] as const) {
    await sql`INSERT INTO campaigns (id, name, file, content_hash, status, paused_reason) VALUES (${id}, ${`c${id}`}, ${`campaigns/c${id}.yaml`}, 'h', ${status}, ${status === 'paused' ? 'looked at by hand' : null})`.execute(t.db);
  }
});

async function campaignStates(): Promise<Record<number, string>> {
  const { rows } = await sql<{ id: number; status: string; paused_reason: string | null }>`SELECT id, status, paused_reason FROM campaigns ORDER BY id`.execute(t.db);
  return Object.fromEntries(rows.map((r) => [r.id, r.paused_reason ? `${r.status}: ${r.paused_reason}` : r.status]));
}

describe('account stop: the rules', () => {
  it('judges GetAccount: disabled sending or SHUTDOWN stop, PROBATION and unknown statuses warn, HEALTHY is fine', () => {
    expect(judgeAccount({ sendingEnabled: true, enforcementStatus: 'HEALTHY' })).toEqual({ level: 'ok' });
    expect(judgeAccount({ sendingEnabled: true, enforcementStatus: undefined })).toEqual({ level: 'ok' });
    expect(judgeAccount({ sendingEnabled: false, enforcementStatus: 'HEALTHY' })).toMatchObject({ level: 'stop', reason: expect.stringContaining('SendingEnabled false') });
    expect(judgeAccount({ sendingEnabled: true, enforcementStatus: 'SHUTDOWN' })).toMatchObject({ level: 'stop', reason: expect.stringContaining('SHUTDOWN') });
    expect(judgeAccount({ sendingEnabled: true, enforcementStatus: 'PROBATION' })).toMatchObject({ level: 'warn', reason: expect.stringContaining('PROBATION') });
    expect(judgeAccount({ sendingEnabled: true, enforcementStatus: 'SOMETHING_NEW' })).toEqual({ level: 'warn', reason: 'SES enforcement status is SOMETHING_NEW' });
  });

  it('knows which SendEmail answers are about the account', () => {
    expect(isAccountStopError('SendingPausedException: Sending is paused for this account.')).toBe(true);
    expect(isAccountStopError('AccountSendingPausedException: paused')).toBe(true);
    expect(isAccountStopError('AccountSuspendedException: restricted')).toBe(true);
    expect(isAccountStopError('MailFromDomainNotVerifiedException: bounce.example.com')).toBe(false);
    expect(isAccountStopError('MessageRejected: SendingPausedException mentioned later')).toBe(false);
  });
});

describe('account stop in Postgres', () => {
  it('pauses every running campaign with the reason, keeps the first reason, and lifts once', async () => {
    const first = await stopAccount(t.db, 'SendingPausedException: paused');
    expect(first.stop.reason).toBe('SendingPausedException: paused');
    expect(first.paused).toEqual([
      { campaign: 1, breaker: 'account', reason: 'the SES account cannot send: SendingPausedException: paused' },
      { campaign: 2, breaker: 'account', reason: 'the SES account cannot send: SendingPausedException: paused' },
    ]);
    expect(await campaignStates()).toEqual({
      1: 'paused: the SES account cannot send: SendingPausedException: paused',
      2: 'paused: the SES account cannot send: SendingPausedException: paused',
      3: 'done',
      4: 'paused: looked at by hand',
    });
    // Another worker hears it too: one stop, the first reason.
    const second = await stopAccount(t.db, 'AccountSuspendedException: later');
    expect(second.stop).toEqual(first.stop);
    expect((await accountStopped(t.db))?.reason).toBe('SendingPausedException: paused');
    expect((await liftAccountStop(t.db))?.reason).toBe('SendingPausedException: paused');
    expect(await liftAccountStop(t.db)).toBeUndefined();
    expect(await accountStopped(t.db)).toBeUndefined();
  });

  it('many workers stopping at once record one stop', async () => {
    const stops = await Promise.all(Array.from({ length: 8 }, (_, i) => stopAccount(t.db, `SendingPausedException: worker ${i}`)));
    expect(new Set(stops.map((s) => s.stop.reason)).size).toBe(1);
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM account_stop`.execute(t.db);
    expect(rows[0]!.n).toBe(1);
  });

  it('a watch sees a stop made by another worker before its next claim, and pauses what started since', async () => {
    const watch = new AccountWatch(t.db, undefined);
    expect(await watch.check()).toBeUndefined();
    await stopAccount(t.db, 'SendingPausedException: paused');
    // A campaign that became running after the stop (apply, a resume) pauses at the next claim.
    await sql`UPDATE campaigns SET status = 'running', paused_reason = NULL WHERE id = 3`.execute(t.db);
    expect((await watch.check())?.reason).toBe('SendingPausedException: paused');
    expect(watch.paused.map((p) => p.campaign)).toEqual([1, 2, 3]);
  });

  it('asks GetAccount at most once a poll interval, stops on SHUTDOWN and remembers a PROBATION warning', async () => {
    let now = 0;
    const answers: AccountState[] = [{ sendingEnabled: true, enforcementStatus: 'PROBATION' }, { sendingEnabled: true, enforcementStatus: 'SHUTDOWN' }];
    let reads = 0;
    const watch = new AccountWatch(t.db, async () => answers[reads++], () => now, 60_000);
    await watch.poll();
    expect(watch.warning).toContain('PROBATION');
    expect(watch.stopped).toBeUndefined();
    now = 59_000;
    await watch.poll();
    expect(reads).toBe(1);
    now = 60_000;
    await watch.poll();
    expect(reads).toBe(2);
    expect(watch.stopped?.reason).toContain('SHUTDOWN');
    expect(watch.paused.map((p) => p.campaign)).toEqual([1, 2]);
  });

  it('a SendEmail refusal about the account stops it; one about the message does not', async () => {
    const watch = new AccountWatch(t.db, undefined);
    expect(await watch.refused('MessageRejected (HTTP 400): Email address is not verified.')).toBe(false);
    expect(await accountStopped(t.db)).toBeUndefined();
    expect(await watch.refused('SendingPausedException (HTTP 400): Sending is paused for this account.')).toBe(true);
    expect(watch.stopped?.reason).toBe('SendingPausedException: Sending is paused for this account');
    expect(watch.paused.map((p) => [p.campaign, p.reason])).toEqual([
      [1, 'the SES account cannot send: SendingPausedException: Sending is paused for this account'],
      [2, 'the SES account cannot send: SendingPausedException: Sending is paused for this account'],
    ]);
  });

  it('a GetAccount that cannot be read stops nothing', async () => {
    const watch = new AccountWatch(t.db, async () => {
      throw new Error('AccessDeniedException');
    });
    await watch.poll();
    expect(watch.stopped).toBeUndefined();
    expect(await accountStopped(t.db)).toBeUndefined();
  });

  it('the gate before send: refuses and stops while the account cannot send, lifts the stop once it can', async () => {
    const refused = await accountGate(t.db, { sendingEnabled: false });
    expect(refused.refuse?.reason).toContain('SendingEnabled false');
    expect((await campaignStates())[1]).toContain('paused: the SES account cannot send');
    const healthy = await accountGate(t.db, { sendingEnabled: true, enforcementStatus: 'HEALTHY' });
    expect(healthy).toMatchObject({ refuse: undefined, lifted: { reason: expect.stringContaining('SendingEnabled false') }, unconfirmed: false });
    expect(await accountStopped(t.db)).toBeUndefined();
    // Nothing to lift, and nothing to confirm it with (the outbox, no ses:GetAccount).
    expect(await accountGate(t.db, undefined)).toEqual({ refuse: undefined, lifted: undefined, warning: undefined, unconfirmed: false });
    await stopAccount(t.db, 'SendingPausedException: paused');
    expect(await accountGate(t.db, undefined)).toMatchObject({ lifted: { reason: 'SendingPausedException: paused' }, unconfirmed: true });
    expect(await accountGate(t.db, { sendingEnabled: true, enforcementStatus: 'PROBATION' })).toMatchObject({ lifted: undefined, warning: expect.stringContaining('PROBATION') });
  });
});
