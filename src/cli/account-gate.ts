import type { Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import { MarketerError } from '../errors.js';
import type { SendQuota } from '../sending/mailer.js';
import { accountGate } from '../sending/policy/account-stop.js';
import type { CommandContext } from './context.js';

const when = (d: Date) => d.toISOString().replace(/:\d\d\.\d{3}Z$/, ' UTC').replace('T', ' ');

/**
 * Before `send` sends: an account GetAccount says cannot send is refused (exit 1, every running
 * campaign paused); an account-wide stop left by an earlier run is lifted once it can.
 */
export async function gateAccount(ctx: CommandContext, db: Kysely<Database>, quota: SendQuota | undefined): Promise<void> {
  const gate = await accountGate(db, quota ? { sendingEnabled: quota.sendingEnabled, enforcementStatus: quota.enforcementStatus } : undefined);
  if (gate.refuse) {
    throw new MarketerError('ACCOUNT_STOPPED', `The SES account cannot send: ${gate.refuse.reason}. Nothing was sent; every running campaign stays paused.`, {
      hint: 'The SES console (account dashboard, reputation metrics) says why. Once AWS lets the account send again, run marketer send again: it lifts the stop and resumes the campaign.',
    });
  }
  if (gate.lifted) {
    const how = gate.unconfirmed
      ? 'GetAccount could not confirm that the account can send; if SES still refuses, its first refusal stops every campaign again'
      : 'GetAccount shows the account can send';
    ctx.out.warn(`the account-wide stop of ${when(gate.lifted.since)} (${gate.lifted.reason}) is lifted: ${how}. Campaigns it paused resume with their own marketer send; this one now.`);
  }
}

export { when as formatStopTime };
