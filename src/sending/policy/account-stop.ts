import { sql, type Kysely } from 'kysely';
import type { Database } from '../../db/types.js';
import { normaliseError } from '../../error-groups.js';
import type { PausedCampaign } from './campaign-pauses.js';

/**
 * Account-level stop: when SES says the account itself cannot send, every campaign stops, for
 * every worker, not only the one that heard it. One row in `account_stop` records it; every
 * claim reads it (so a worker serving another campaign, or started later, stops too), and the
 * running campaigns are paused with the reason. `marketer send` lifts it once GetAccount shows
 * the account can send again.
 *
 * What counts, from the SES v2 API reference:
 * - `SendingPausedException` ("the account's ability to send email is currently paused"),
 *   `AccountSuspendedException` (permanently restricted), and SES v1's
 *   `AccountSendingPausedException` from a SendEmail: stop.
 * - GetAccount `SendingEnabled: false` (sending disabled for the account in this region): stop.
 * - GetAccount `EnforcementStatus`: `SHUTDOWN` ("your account's ability to send email is
 *   currently paused"): stop. `PROBATION` (under review while you correct the issues): SES
 *   still sends, so marketer sends and warns; the circuit breakers are what keeps a probation
 *   from becoming a shutdown. `HEALTHY`: fine. A value SES adds later: warn, do not stop.
 */
export type AccountVerdict = { level: 'ok' } | { level: 'warn' | 'stop'; reason: string };

/** What GetAccount says about the account's ability to send. */
export interface AccountState {
  sendingEnabled: boolean;
  enforcementStatus?: string | undefined;
}

export interface AccountStop {
  reason: string;
  since: Date;
}

const STOPPING_ERRORS = /^(SendingPausedException|AccountSendingPausedException|AccountSuspendedException)\b/;

/** A SendEmail answer that means the account, not this message or campaign, cannot send. */
export function isAccountStopError(error: string): boolean {
  return STOPPING_ERRORS.test(error);
}

/** How marketer treats the account GetAccount describes. */
export function judgeAccount(a: AccountState): AccountVerdict {
  if (!a.sendingEnabled) return { level: 'stop', reason: 'SES GetAccount reports sending disabled for the account (SendingEnabled false)' };
  const status = a.enforcementStatus?.toUpperCase();
  if (status === 'SHUTDOWN') return { level: 'stop', reason: "SES enforcement status is SHUTDOWN: the account's sending is paused until AWS resumes it" };
  if (status === 'PROBATION') {
    return { level: 'warn', reason: 'SES enforcement status is PROBATION: the account is under review; keep bounces under 5% and complaints under 0.1% or SES pauses it (see the Reputation metrics page in the SES console)' };
  }
  if (status && status !== 'HEALTHY') return { level: 'warn', reason: `SES enforcement status is ${status}` };
  return { level: 'ok' };
}

/** The stop in force, if any. */
export async function accountStopped(db: Kysely<Database>): Promise<AccountStop | undefined> {
  const { rows } = await sql<{ reason: string; stopped_at: Date }>`SELECT reason, stopped_at FROM account_stop`.execute(db);
  const row = rows[0];
  return row ? { reason: row.reason, since: new Date(row.stopped_at) } : undefined;
}

/**
 * Record the stop (the first reason stays when several workers hear it at once) and pause every
 * running campaign with it, in one transaction. Returns the stop in force and the campaigns
 * paused under it, this call's and earlier ones'.
 */
export async function stopAccount(db: Kysely<Database>, reason: string): Promise<{ stop: AccountStop; paused: PausedCampaign[] }> {
  return db.transaction().execute(async (trx) => {
    await sql`INSERT INTO account_stop (singleton, reason) VALUES (true, ${reason}) ON CONFLICT (singleton) DO NOTHING`.execute(trx);
    const { rows: [row] } = await sql<{ reason: string; stopped_at: Date }>`SELECT reason, stopped_at FROM account_stop FOR SHARE`.execute(trx);
    const stop = { reason: row!.reason, since: new Date(row!.stopped_at) };
    const why = pauseReason(stop.reason);
    await sql`UPDATE campaigns SET status = 'paused', paused_reason = ${why}, updated_at = now() WHERE status = 'running'`.execute(trx);
    const { rows } = await sql<{ id: number }>`SELECT id FROM campaigns WHERE status = 'paused' AND paused_reason = ${why} ORDER BY id`.execute(trx);
    return { stop, paused: rows.map((r) => ({ campaign: r.id, reason: why, breaker: 'account' as const })) };
  });
}

/** The reason a campaign paused by the account stop carries. */
export function pauseReason(stopReason: string): string {
  return `the SES account cannot send: ${stopReason}`;
}

/** Lift the stop (after GetAccount showed the account can send again); what was lifted, if anything. */
export async function liftAccountStop(db: Kysely<Database>): Promise<AccountStop | undefined> {
  const { rows } = await sql<{ reason: string; stopped_at: Date }>`DELETE FROM account_stop RETURNING reason, stopped_at`.execute(db);
  const row = rows[0];
  return row ? { reason: row.reason, since: new Date(row.stopped_at) } : undefined;
}

export interface AccountGate {
  /** The account cannot send (GetAccount's reason): nothing may be sent, and every running campaign is now paused. */
  refuse: AccountStop | undefined;
  /** A stop that was in force and is lifted now. */
  lifted: AccountStop | undefined;
  /** GetAccount's warning (PROBATION). */
  warning: string | undefined;
  /** The stop was lifted without GetAccount to confirm it (the outbox, no ses:GetAccount). */
  unconfirmed: boolean;
}

/**
 * Before `send` (a person asking to send): GetAccount's answer (undefined when there is none)
 * decides. An account that cannot send stops everything and refuses; one that can lifts a stop
 * left by an earlier run. If SES still refuses after all, its first answer stops everything
 * again.
 */
export async function accountGate(db: Kysely<Database>, account: AccountState | undefined): Promise<AccountGate> {
  const verdict = account ? judgeAccount(account) : undefined;
  if (verdict?.level === 'stop') {
    const { stop } = await stopAccount(db, verdict.reason);
    return { refuse: { reason: verdict.reason, since: stop.since }, lifted: undefined, warning: undefined, unconfirmed: false };
  }
  const lifted = await liftAccountStop(db);
  return { refuse: undefined, lifted, warning: verdict?.level === 'warn' ? verdict.reason : undefined, unconfirmed: Boolean(lifted) && !account };
}

/** How often a running dispatch asks GetAccount how the account stands. */
export const ACCOUNT_POLL_MS = 60_000;

/**
 * One run's view of the account: reads the stop row before each claim, asks GetAccount now and
 * then, and stops the account on an answer that says it cannot send.
 */
export class AccountWatch {
  /** Set once the account is stopped (by this run or another worker). */
  stopped: AccountStop | undefined;
  /** Campaigns the stop paused. */
  paused: PausedCampaign[] = [];
  /** The last GetAccount warning (PROBATION), if any. */
  warning: string | undefined;
  private lastPoll = -Infinity;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly read: (() => Promise<AccountState | undefined>) | undefined,
    private readonly now: () => number = () => performance.now(),
    private readonly pollMs = ACCOUNT_POLL_MS,
  ) {}

  /** A fatal SendEmail answer: true when it stopped the account. */
  async refused(error: string): Promise<boolean> {
    if (!isAccountStopError(error)) return false;
    // Without its full stop: the reason is quoted inside sentences.
    await this.stop(normaliseError(error).replace(/\.$/, ''));
    return true;
  }

  /** Before a claim: whether any worker stopped the account (then this run stops too). */
  async check(): Promise<AccountStop | undefined> {
    if (this.stopped) return this.stopped;
    const stop = await accountStopped(this.db);
    // Campaigns that became running after the stop (apply, a resumed campaign) pause too.
    if (stop) await this.stop(stop.reason);
    return this.stopped;
  }

  /** Ask GetAccount, at most once per poll interval; stops the account when it cannot send. */
  async poll(): Promise<void> {
    if (!this.read || this.stopped || this.now() - this.lastPoll < this.pollMs) return;
    this.lastPoll = this.now();
    let state: AccountState | undefined;
    try {
      state = await this.read();
    } catch {
      // Unreadable (no ses:GetAccount): the pre-flight said so; SendEmail's answers still count.
      return;
    }
    if (!state) return;
    const verdict = judgeAccount(state);
    if (verdict.level === 'warn') this.warning = verdict.reason;
    if (verdict.level === 'stop') await this.stop(verdict.reason);
  }

  private async stop(reason: string): Promise<void> {
    const { stop, paused } = await stopAccount(this.db, reason);
    this.stopped = stop;
    this.paused = paused;
  }
}
