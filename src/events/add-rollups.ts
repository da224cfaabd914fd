import { sql, type Transaction } from 'kysely';
import type { Database } from '../db/types.js';
import { sqlArray } from '../db/sql-array.js';

/** Events per campaign, kind (the type; bounces split by type) and 15-minute bucket. */
export interface EventCount {
  campaign: number;
  kind: string;
  /** Start of the bucket, epoch ms. */
  bucket: number;
  events: number;
}

export interface LinkCount {
  campaign: number;
  link: string;
  clicks: number;
  /** Deliveries whose first click on this link is in the batch. */
  unique: number;
}

/** Deliveries of a wave (campaign, zone) whose first-event column the batch moved from NULL. */
export interface WaveFirsts {
  campaign: number;
  timezone: string;
  delivered: number;
  opened: number;
  clicked: number;
  bounced: number;
  complained: number;
  unsubscribed: number;
}

export interface Rollups {
  events: EventCount[];
  links: LinkCount[];
  waves: WaveFirsts[];
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Add a batch's counts to the rollups `stats` reads. These few rows are shared by every batch
 * of a campaign (its 12 links, its zones, the current quarter hour), so the first ingester to
 * write one holds it until its transaction commits, and a concurrent batch that reaches it waits.
 * That is why this is the last work of an ingest transaction: written in the middle (before the
 * ledger update, as it once was), the two batches in flight took turns for most of their time
 * instead of overlapping. Each table's keys are sorted and the tables always come in this order,
 * so concurrent ingesters cannot deadlock here.
 */
export async function addRollups(trx: Transaction<Database>, r: Rollups): Promise<void> {
  if (r.events.length > 0) {
    const rows = [...r.events].sort((a, b) => a.campaign - b.campaign || byText(a.kind, b.kind) || a.bucket - b.bucket);
    await sql`/* prepared */
      INSERT INTO campaign_event_counts (campaign_id, kind, bucket, events)
      SELECT * FROM unnest(${sqlArray(rows.map((x) => x.campaign))}::int[], ${sqlArray(rows.map((x) => x.kind))}::text[],
                           ${sqlArray(rows.map((x) => new Date(x.bucket).toISOString()))}::timestamptz[], ${sqlArray(rows.map((x) => x.events))}::bigint[])
      ON CONFLICT (campaign_id, kind, bucket) DO UPDATE SET events = campaign_event_counts.events + excluded.events`.execute(trx);
  }
  if (r.links.length > 0) {
    const rows = [...r.links].sort((a, b) => a.campaign - b.campaign || byText(a.link, b.link));
    await sql`/* prepared */
      INSERT INTO campaign_link_counts (campaign_id, link, clicks, unique_clicks)
      SELECT * FROM unnest(${sqlArray(rows.map((x) => x.campaign))}::int[], ${sqlArray(rows.map((x) => x.link))}::text[],
                           ${sqlArray(rows.map((x) => x.clicks))}::bigint[], ${sqlArray(rows.map((x) => x.unique))}::bigint[])
      ON CONFLICT (campaign_id, link) DO UPDATE
      SET clicks = campaign_link_counts.clicks + excluded.clicks, unique_clicks = campaign_link_counts.unique_clicks + excluded.unique_clicks`.execute(trx);
  }
  if (r.waves.length > 0) {
    const rows = [...r.waves].sort((a, b) => a.campaign - b.campaign || byText(a.timezone, b.timezone));
    const col = (f: keyof Omit<WaveFirsts, 'campaign' | 'timezone'>) => sqlArray(rows.map((x) => x[f]));
    await sql`/* prepared */
      INSERT INTO campaign_wave_firsts AS w (campaign_id, timezone, delivered, opened, clicked, bounced, complained, unsubscribed)
      SELECT * FROM unnest(${sqlArray(rows.map((x) => x.campaign))}::int[], ${sqlArray(rows.map((x) => x.timezone))}::text[],
        ${col('delivered')}::bigint[], ${col('opened')}::bigint[], ${col('clicked')}::bigint[],
        ${col('bounced')}::bigint[], ${col('complained')}::bigint[], ${col('unsubscribed')}::bigint[])
      ON CONFLICT (campaign_id, timezone) DO UPDATE SET
        delivered = w.delivered + excluded.delivered, opened = w.opened + excluded.opened, clicked = w.clicked + excluded.clicked,
        bounced = w.bounced + excluded.bounced, complained = w.complained + excluded.complained, unsubscribed = w.unsubscribed + excluded.unsubscribed`.execute(trx);
  }
}
