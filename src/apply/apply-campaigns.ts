import type { Kysely } from 'kysely';
import type { CompiledCampaign } from '../campaigns/index.js';
import type { CampaignChange } from '../campaigns/changed-campaigns.js';
import type { Database } from '../db/types.js';
import { inputError, isMarketerError, type MarketerError } from '../errors.js';
import { enqueueDeliveries, recordCampaign } from '../sending/enqueue.js';
import { changedAfterSending, enqueueableCount, missedSchedule } from './missed-schedule.js';

export interface ApplyItem {
  compiled: CompiledCampaign;
  change: CampaignChange;
}

export interface AppliedCampaign {
  campaign: number;
  name: string;
  file: string;
  change: CampaignChange;
  /** Deliveries added to the ledger by this run (with --plan: that it would add). */
  enqueued: number;
  /** First time the ledger sees this campaign. */
  created: boolean;
}

export interface MissedCampaign {
  campaign: number;
  name: string;
  file: string;
  lastWave: Date;
  lateGraceSeconds: number;
}

export interface RefusedApply {
  campaign: number;
  file: string;
  error: MarketerError;
}

export interface ApplyCampaignsResult {
  applied: AppliedCampaign[];
  missed: MissedCampaign[];
  refused: RefusedApply[];
}

/**
 * Record and enqueue each changed campaign (idempotent: the ledger holds one delivery per
 * subscriber and campaign), except those whose schedule was missed. A campaign changed after its
 * sending began is refused and the others still go. With `plan`, only reads: what would happen.
 */
export async function applyCampaigns(
  db: Kysely<Database>,
  items: ApplyItem[],
  o: { now: Date; plan: boolean; allowChanged?: boolean },
): Promise<ApplyCampaignsResult> {
  const result: ApplyCampaignsResult = { applied: [], missed: [], refused: [] };
  for (const { compiled, change } of items) {
    const c = compiled.campaign;
    const lastWave = await missedSchedule(db, c, o.now);
    if (lastWave) {
      result.missed.push({ campaign: c.id, name: c.name, file: c.relFile, lastWave, lateGraceSeconds: c.schedule.lateGraceSeconds });
      continue;
    }
    const row = { campaign: c.id, name: c.name, file: c.relFile, change };
    if (o.plan) {
      const begun = o.allowChanged ? undefined : await changedAfterSending(db, c);
      if (begun !== undefined) {
        result.refused.push({ campaign: c.id, file: c.relFile, error: inputError('CAMPAIGN_CHANGED', `Campaign ${c.id} (${c.relFile}) changed after sending began: ${begun} ${begun === 1 ? 'delivery has' : 'deliveries have'} been attempted with the earlier version.`) });
        continue;
      }
      const known = await db.selectFrom('campaigns').select('id').where('id', '=', c.id).executeTakeFirst();
      result.applied.push({ ...row, enqueued: await enqueueableCount(db, c), created: !known });
      continue;
    }
    try {
      const recorded = await recordOnce(db, c, o.allowChanged);
      const enqueued = await enqueueDeliveries(db, c, o.now);
      result.applied.push({ ...row, enqueued, created: recorded.created });
    } catch (err) {
      if (!isMarketerError(err) || err.code !== 'CAMPAIGN_CHANGED') throw err;
      result.refused.push({ campaign: c.id, file: c.relFile, error: err });
    }
  }
  return result;
}

/**
 * Two runs applying the same new campaign at once both find no row and both insert it; the one
 * that loses (unique violation 23505) records it again, now as an existing campaign.
 */
async function recordOnce(db: Kysely<Database>, c: CompiledCampaign['campaign'], allowChanged: boolean | undefined) {
  try {
    return await recordCampaign(db, c, { allowChanged });
  } catch (err) {
    if ((err as { code?: unknown }).code !== '23505') throw err;
    return recordCampaign(db, c, { allowChanged });
  }
}
