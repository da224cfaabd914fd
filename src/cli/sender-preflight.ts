import type { LoadedCampaign } from '../campaigns/index.js';
import type { MarketerError } from '../errors.js';
import { createMailer } from '../sending/create-mailer.js';
import type { Mailer } from '../sending/mailer.js';
import { decideRate, senderChecker, senderRefusal, type RateDecision } from '../sending/preflight.js';
import { SesSetup } from '../sending/ses-account.js';
import type { CommandContext } from './context.js';

export interface SendPreflight {
  rate: RateDecision;
  /** Campaigns whose From address SES would refuse, with the error `send` reports. */
  refused: Map<number, MarketerError>;
}

/**
 * What `send` checks before it enqueues anything: the rate it may send at (refused when the
 * quota is unreadable and no rate is set) and each campaign's From identity. Warnings go to
 * stderr here; refusals are returned for the caller to report.
 */
export async function preflightSend(ctx: CommandContext, campaigns: LoadedCampaign[], flagRate: number | undefined): Promise<SendPreflight> {
  const rate = await rateFor(ctx, flagRate);
  const refused = new Map<number, MarketerError>();
  if (ctx.config.transport !== 'ses') return { rate, refused };
  if (rate.quota && !rate.quota.productionAccess) {
    ctx.out.warn('the SES account is in the sandbox: only verified recipients receive mail (the rest are rejected), at most 200 per 24 hours.');
  }
  const ses = new SesSetup({ region: ctx.config.awsRegion, endpoint: ctx.config.sesEndpoint });
  try {
    const check = senderChecker(ses);
    for (const c of campaigns) {
      const result = await check(c.from);
      if (result.status === 'unknown') ctx.out.warn(`campaign ${c.id}: the From identity was not checked: ${result.detail}. Fix: ${result.fix}`);
      const refusal = senderRefusal(result, c.id);
      if (refusal) refused.set(c.id, refusal);
    }
  } finally {
    ses.close();
  }
  return { rate, refused };
}

/** decideRate with the run's transport, warning loudly when the quota could not be read. */
export async function rateFor(ctx: CommandContext, flagRate: number | undefined, mailer?: Mailer): Promise<RateDecision> {
  const probe = mailer ?? createMailer(ctx.config, { concurrency: 1 });
  try {
    const rate = await decideRate(ctx.config, probe, flagRate);
    if (rate.warning) ctx.out.warn(rate.warning);
    return rate;
  } finally {
    if (!mailer) await probe.close();
  }
}
