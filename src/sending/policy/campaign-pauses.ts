import { sql, type Kysely } from 'kysely';
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

  /**
   * The account cannot send (SES paused it, or its enforcement status worsened): every running
   * campaign stops, for every worker, until someone resumes it with `marketer send`.
   */
  async pauseAll(reason: string): Promise<void> {
    const { rows } = await sql<{ id: number }>`
      UPDATE campaigns SET status = 'paused', paused_reason = ${reason}, updated_at = now()
      WHERE status = 'running' RETURNING id`.execute(this.db);
    for (const { id } of rows.sort((a, b) => a.id - b.id)) {
      if (this.ids.has(id)) continue;
      this.ids.add(id);
      this.list.push({ campaign: id, reason, breaker: 'account' });
    }
  }
}
