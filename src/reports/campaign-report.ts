import { DateTime } from 'luxon';
import type { Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import { campaignHolds, type CampaignHold } from './campaign-holds.js';
import { campaignStats, type CampaignStats } from './campaign-stats.js';
import { deliveryProblems, type DeliveryProblems } from './delivery-problems.js';
import { hourlyEvents } from './hourly-events.js';

/** Everything `marketer report` draws: the stats document plus what only the report shows. */
export interface CampaignReport {
  stats: CampaignStats;
  generatedAt: string;
  /** Opens and clicks per hour for the first `hours` hours from the first wave, labelled in `stats.timezone`. */
  firstHours: { hours: number; start: string | null; series: { hour: string; opens: number; clicks: number }[] };
  problems: DeliveryProblems;
  holds: CampaignHold[];
}

export interface ReportOptions {
  timezone?: string;
  /** Length of the hourly chart (default 72). */
  hours?: number;
  now?: Date;
}

export async function campaignReport(db: Kysely<Database>, campaignId: number, options: ReportOptions = {}): Promise<CampaignReport> {
  const tz = options.timezone ?? 'UTC';
  const hours = options.hours ?? 72;
  const stats = await campaignStats(db, campaignId, { timezone: tz, topLinks: 25 });
  // Waves come earliest first; a campaign with no deliveries has no chart.
  const firstWave = stats.waves.find((w) => w.dueAt)?.dueAt ?? null;
  const start = firstWave ? new Date(firstWave) : null;
  // Whole UTC hours from the one the first wave falls in.
  const from = start ? new Date(Math.floor(start.getTime() / 3_600_000) * 3_600_000) : null;
  const series = from
    ? (await hourlyEvents(db, campaignId, { from, to: new Date(from.getTime() + hours * 3_600_000) })).map((h) => ({
        hour: DateTime.fromJSDate(h.hour, { zone: tz }).toISO({ suppressMilliseconds: true }) ?? h.hour.toISOString(),
        opens: h.opens,
        clicks: h.clicks,
      }))
    : [];
  return {
    stats,
    generatedAt: (options.now ?? new Date()).toISOString(),
    firstHours: { hours, start: start?.toISOString() ?? null, series },
    problems: await deliveryProblems(db, campaignId),
    holds: await campaignHolds(db, campaignId),
  };
}
