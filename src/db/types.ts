import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type TimestampDefault = ColumnType<Date, Date | string | undefined, Date | string>;
type Json = ColumnType<Record<string, unknown>, string | Record<string, unknown>, string | Record<string, unknown>>;

export type SubscriberStatus = 'active' | 'unsubscribed' | 'bounced' | 'complained' | 'forgotten';
export type SuppressionReason = 'unsubscribed' | 'bounced' | 'complained' | 'forgotten' | 'manual';
export type CampaignStatus = 'running' | 'paused' | 'done';
export type DeliveryStatus = 'queued' | 'sending' | 'sent' | 'failed' | 'skipped' | 'unknown';

export interface SubscribersTable {
  id: Generated<string>;
  email: string;
  first_name: string | null;
  last_name: string | null;
  timezone: Generated<string>;
  status: Generated<SubscriberStatus>;
  tags: Generated<string[]>;
  attributes: Generated<Json>;
  source: string | null;
  consent_at: Timestamp | null;
  consent_ip: string | null;
  consent_text: string | null;
  soft_bounces: Generated<number>;
  created_at: TimestampDefault;
  updated_at: TimestampDefault;
}

export interface SuppressionsTable {
  email_hash: Buffer;
  reason: SuppressionReason;
  detail: string | null;
  created_at: TimestampDefault;
}

export interface CampaignsTable {
  id: number;
  name: string;
  file: string;
  content_hash: string;
  status: Generated<CampaignStatus>;
  paused_reason: string | null;
  schedule_at: string | null;
  late_policy: Generated<'send' | 'skip'>;
  late_grace: ColumnType<unknown, string | undefined, string>;
  source_yaml: string | null;
  source_template: string | null;
  created_at: TimestampDefault;
  updated_at: TimestampDefault;
  finished_at: Timestamp | null;
  /** Breaker figures when the campaign was last resumed (written in SQL only). */
  breaker_baseline: ColumnType<unknown, never, never>;
  /** Subscribers of the audience left out by sunsetting at the last enqueue (null: sunsetting off). */
  sunset_skipped: ColumnType<number | null, never, number | null>;
}

export interface DeliveriesTable {
  id: Generated<string>;
  campaign_id: number;
  subscriber_id: string;
  due_at: Timestamp;
  timezone: string;
  status: Generated<DeliveryStatus>;
  attempts: Generated<number>;
  claimed_by: string | null;
  claimed_at: Timestamp | null;
  lease_until: Timestamp | null;
  attempted_at: Timestamp | null;
  message_id: string | null;
  error: string | null;
  sent_at: Timestamp | null;
  delivered_at: Timestamp | null;
  opened_at: Timestamp | null;
  clicked_at: Timestamp | null;
  bounced_at: Timestamp | null;
  complained_at: Timestamp | null;
  unsubscribed_at: Timestamp | null;
  /** A/B test variant; null without a test, or for the rest until the winner is decided. */
  variant: ColumnType<string | null, string | null | undefined, string | null>;
  /** In an A/B test's test share; null without a test. */
  in_test: ColumnType<boolean | null, boolean | null | undefined, boolean | null>;
}

/** An A/B test's settings and, once made, its decision (src/experiments/). */
export interface CampaignTestsTable {
  campaign_id: number;
  variants: string[];
  share: number;
  metric: 'clicks' | 'opens';
  /** Seconds. */
  decide_after: number;
  winner: string | null;
  reason: string | null;
  note: string | null;
  figures: ColumnType<unknown, string | null | undefined, string | null>;
  decided_at: Timestamp | null;
  decided_by: string | null;
}

export interface EmailEventsTable {
  time: Timestamp;
  dedupe_key: string;
  event_type: string;
  campaign_id: number | null;
  delivery_id: string | null;
  message_id: string | null;
  recipient_hash: Buffer | null;
  bounce_type: string | null;
  bounce_subtype: string | null;
  link: string | null;
  payload: Json | null;
  ingested_at: TimestampDefault;
}

/** The last commit `marketer apply` applied, per branch. */
export interface AppliedCommitsTable {
  branch: string;
  commit_sha: string;
  applied_at: TimestampDefault;
}

export interface Database {
  subscribers: SubscribersTable;
  suppressions: SuppressionsTable;
  campaigns: CampaignsTable;
  deliveries: DeliveriesTable;
  campaign_tests: CampaignTestsTable;
  email_events: EmailEventsTable;
  applied_commits: AppliedCommitsTable;
}

export type Subscriber = Selectable<SubscribersTable>;
export type NewSubscriber = Insertable<SubscribersTable>;
export type Campaign = Selectable<CampaignsTable>;
export type CampaignUpdate = Updateable<CampaignsTable>;
export type Delivery = Selectable<DeliveriesTable>;
export type EmailEvent = Selectable<EmailEventsTable>;
