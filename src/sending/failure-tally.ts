import { normaliseError, groupErrors, type ErrorGroup } from '../error-groups.js';

/** What one run failed, per campaign and error. */
export class FailureTally {
  private readonly counts = new Map<number, Map<string, number>>();

  /** Count one failed delivery; returns the normalised error to record in the ledger. */
  add(campaignId: number, error: string): string {
    const key = normaliseError(error);
    const byError = this.counts.get(campaignId) ?? new Map<string, number>();
    byError.set(key, (byError.get(key) ?? 0) + 1);
    this.counts.set(campaignId, byError);
    return key;
  }

  /** Every failure of the run, one entry per campaign and error. */
  list(): (ErrorGroup & { campaign: number })[] {
    return [...this.counts.keys()].sort((a, b) => a - b).flatMap((campaign) => this.groups(campaign).map((g) => ({ campaign, ...g })));
  }

  /** The run's failures of one campaign (or of all, merged). */
  groups(campaignId?: number): ErrorGroup[] {
    const maps = campaignId === undefined ? [...this.counts.values()] : [this.counts.get(campaignId) ?? new Map<string, number>()];
    return groupErrors(maps.flatMap((m) => [...m].map(([error, count]) => ({ error, count }))));
  }
}
