/**
 * Pause rule: sends that failed (or whose outcome is unknown) many times in a row point at the
 * campaign, the network or SES, not at one recipient; go on and every other recipient fails
 * the same way. One streak per campaign; a sent message resets it.
 */
export class FailureStreak {
  private readonly streaks = new Map<number, number>();
  private readonly tripped = new Set<number>();

  constructor(private readonly limit: number) {}

  sent(campaignId: number): void {
    this.streaks.set(campaignId, 0);
  }

  /** Returns the pause reason the first time the streak reaches the limit, else undefined. */
  failed(campaignId: number, error: string): string | undefined {
    const n = (this.streaks.get(campaignId) ?? 0) + 1;
    this.streaks.set(campaignId, n);
    if (n < this.limit || this.tripped.has(campaignId)) return undefined;
    this.tripped.add(campaignId);
    return `${n} sends in a row failed; last error: ${error}`;
  }
}
