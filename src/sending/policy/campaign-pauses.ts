import type { Kysely } from 'kysely';
import type { Database } from '../../db/types.js';
import { pauseCampaign } from '../ledger.js';

export interface PausedCampaign {
  campaign: number;
  reason: string;
  /** Set when a circuit breaker (or an account-level signal) paused it. */
  breaker?: 'bounce' | 'complaint' | 'account';
}

/**
 * Pause rules share one way out: the campaign row becomes `paused` with its reason (so every
 * worker stops claiming it and `stats` shows why), the run reports it once, and this worker
 * gives back the campaign's rows still in hand. `marketer send` resumes it.
 */
export class CampaignPauses {
  readonly list: PausedCampaign[] = [];
  private readonly ids = new Set<number>();

  constructor(private readonly db: Kysely<Database>) {}

  has(campaignId: number): boolean {
    return this.ids.has(campaignId);
  }

  /** Pause once; later calls for the same campaign do nothing. */
  async pause(campaignId: number, reason: string, breaker?: PausedCampaign['breaker']): Promise<void> {
    if (this.ids.has(campaignId)) return;
    this.ids.add(campaignId);
    this.list.push({ campaign: campaignId, reason, ...(breaker ? { breaker } : {}) });
    await pauseCampaign(this.db, campaignId, reason);
  }

  /** Pauses another rule already recorded in the database (the account stop): report them once. */
  adopt(paused: PausedCampaign[]): void {
    for (const p of paused) {
      if (this.ids.has(p.campaign)) continue;
      this.ids.add(p.campaign);
      this.list.push(p);
    }
  }
}
