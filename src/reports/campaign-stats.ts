import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import { groupErrors, type ErrorGroup } from '../error-groups.js';
import { inputError } from '../errors.js';
import { testState, variantStats, type TestState, type VariantStats } from '../experiments/variant-stats.js';
import { isoWithOffset, localTextSql, offsetMinutesSql } from './local-time.js';

/**
 * Figures for one campaign, as one JSON-able document (`marketer stats 42 --json` and
 * `GET /api/campaigns/42/stats` return exactly this).
 *
 * Where each figure comes from:
 * - ledger counts (recipients, sent, failed, unknown, skipped, queued): `campaign_ledger_counts`,
 *   which triggers on `deliveries` keep; per-recipient firsts (delivered, unique opens/clicks,
 *   complained, unsubscribed): `campaign_wave_firsts`, which ingest keeps; with `since`, both
 *   from one pass over the campaign's deliveries;
 * - totals (opens, clicks, bounces by type) and the timeline: `campaign_event_counts`, the
 *   rollup ingest keeps beside `email_events`;
 * - links: `campaign_link_counts`.
 * Rates are fractions (0.0123 = 1.23%), null where the denominator is zero.
 */
export interface CampaignStats {
  campaign: number;
  name: string;
  status: string;
  /** Why the campaign is paused (a pause rule, a circuit breaker), when it is. */
  pausedReason: string | null;
  /** SES said the account cannot send: every campaign is stopped until `marketer send` lifts it. */
  accountStop: AccountStopState | null;
  /** Today's warm-up cap is reached and holds this campaign's due deliveries for tomorrow. */
  heldByWarmup: { day: string; cap: number; used: number; due: number } | null;
  timezone: string;
  since: string | null;
  recipients: number;
  sent: number;
  delivered: number;
  bounced: { hard: number; soft: number };
  complained: number;
  unsubscribed: number;
  opens: { unique: number; total: number };
  clicks: { unique: number; total: number };
  failed: number;
  /** Failed deliveries grouped by error (no addresses), most frequent first. */
  errors: ErrorGroup[];
  unknown: number;
  /** Skipped deliveries: late waves (`late: skip`) and recipients suppressed before sending. */
  skipped: number;
  skippedBreakdown: { late: number; suppressed: number };
  /** Subscribers of the audience that sunsetting left out at the last enqueue (no ledger row); null when it was off. */
  sunset: number | null;
  queued: number;
  sending: number;
  rates: {
    delivery: number | null;
    open: number | null;
    click: number | null;
    clickToOpen: number | null;
    bounce: number | null;
    complaint: number | null;
  };
  alerts: RateAlert[];
  links: { url: string; unique: number; total: number }[];
  waves: WaveStats[];
  /** Hours in `timezone`, first to last hour with an open or click. */
  timeline: { hour: string; opens: number; clicks: number }[];
  /** An A/B test's variants (empty without one): every delivery, and the test share apart. */
  variants: VariantStats[];
  /** The A/B test's settings and decision, or null. */
  test: TestState | null;
}

export interface WaveStats {
  timezone: string;
  dueAt: string | null;
  /** The same instant in the wave's own zone, with its offset: `2026-12-01T08:00:00+01:00`. */
  dueAtLocal: string | null;
  recipients: number;
  sent: number;
  delivered: number;
  opened: number;
  clicked: number;
  bounced: number;
  complained: number;
  skipped: number;
  failed: number;
  unknown: number;
  queued: number;
}

export interface RateAlert {
  metric: 'bounce' | 'complaint';
  level: 'warning' | 'critical';
  rate: number;
  threshold: number;
  advice: string;
}

/**
 * Mailbox providers' lines: SES reviews an account at a 5% bounce rate (and may pause it at
 * 10%); Gmail and Yahoo's sender rules want spam complaints under 0.1% and never at 0.3%.
 */
export const THRESHOLDS = { bounce: 0.05, bouncePause: 0.1, complaintWarning: 0.001, complaintCritical: 0.003 } as const;

export interface StatsOptions {
  /** IANA zone for the timeline (default UTC; the CLI passes the viewer's). */
  timezone?: string;
  /** Count only events from this instant on (15-minute precision for totals and timeline). */
  since?: Date;
  /** How many links to list (most unique clicks first). */
  topLinks?: number;
}

const n = (v: unknown) => Number(v ?? 0);
const rate = (num: number, den: number) => (den > 0 ? num / den : null);

interface GroupRow {
  timezone: string;
  status: string;
  due_at: Date | null;
  due_local: string | null;
  due_offset: number | null;
  n: string;
  suppressed: string;
  delivered: string;
  opened: string;
  clicked: string;
  bounced: string;
  complained: string;
  unsubscribed: string;
}

interface WaveRow {
  timezone: string;
  due_at: Date | null;
  due_local: string | null;
  recipients: number;
  sent: number;
  failed: number;
  unknown: number;
  skipped: number;
  suppressed: number;
  queued: number;
  sending: number;
  delivered: number;
  opened: number;
  clicked: number;
  bounced: number;
  complained: number;
  unsubscribed: number;
}

/** (zone, status) groups into one row per wave, earliest wave first. */
function foldWaves(groups: GroupRow[]): WaveRow[] {
  const waves = new Map<string, WaveRow>();
  for (const g of groups) {
    const w = waves.get(g.timezone) ?? {
      timezone: g.timezone, due_at: null, due_local: null, recipients: 0, sent: 0, failed: 0, unknown: 0, skipped: 0, suppressed: 0, queued: 0, sending: 0,
      delivered: 0, opened: 0, clicked: 0, bounced: 0, complained: 0, unsubscribed: 0,
    };
    const count = n(g.n);
    if (g.due_at && (!w.due_at || new Date(g.due_at) < w.due_at)) {
      w.due_at = new Date(g.due_at);
      w.due_local = g.due_local === null ? null : isoWithOffset(g.due_local, n(g.due_offset), g.timezone);
    }
    w.recipients += count;
    if (g.status === 'sent' || g.status === 'failed' || g.status === 'unknown' || g.status === 'skipped' || g.status === 'queued' || g.status === 'sending') w[g.status] += count;
    w.suppressed += n(g.suppressed);
    for (const k of ['delivered', 'opened', 'clicked', 'bounced', 'complained', 'unsubscribed'] as const) w[k] += n(g[k]);
    waves.set(g.timezone, w);
  }
  return [...waves.values()].sort((a, b) => (a.due_at?.getTime() ?? Infinity) - (b.due_at?.getTime() ?? Infinity) || (a.timezone < b.timezone ? -1 : 1));
}

// Beyond a month of hours the gaps are left out rather than drawn as hundreds of empty rows.
const MAX_FILLED_HOURS = 24 * 31;

export async function campaignStats(db: Kysely<Database>, campaignId: number, options: StatsOptions = {}): Promise<CampaignStats> {
  const tz = options.timezone ?? 'UTC';
  const since = options.since ?? null;
  const campaign = await db.selectFrom('campaigns').select(['id', 'name', 'status', 'paused_reason', 'sunset_skipped']).where('id', '=', campaignId).executeTakeFirst();
  if (!campaign) {
    throw inputError('CAMPAIGN_NOT_FOUND', `No campaign ${campaignId} in this database.`, { hint: 'Run "marketer stats" to list campaigns, or check DATABASE_URL.' });
  }
  const sinceTs = since?.toISOString() ?? null;
  // Without --since, the ledger's counts per wave and status are campaign_ledger_counts' rows
  // (kept by triggers on deliveries, schema.sql) and the first-event counts campaign_wave_firsts':
  // a few dozen rows, where counting 1M deliveries from an index took ~150 ms. With --since the
  // first-event columns must be compared, so it is one pass over the campaign's rows, grouped by
  // (zone, status) and folded below (a FILTER per status cost 420 ms on 1M deliveries against
  // 285 ms for this).
  const firsts = (column: 'delivered_at' | 'opened_at' | 'clicked_at' | 'bounced_at' | 'complained_at' | 'unsubscribed_at') =>
    sql`count(${sql.ref(column)}) FILTER (WHERE ${sql.ref(column)} >= ${sinceTs}::timestamptz)`;
  const groups = since
    ? await sql<GroupRow>`
        SELECT timezone, status, min(due_at) AS due_at,
          ${localTextSql(sql`min(due_at)`, sql`timezone`)} AS due_local, ${offsetMinutesSql(sql`min(due_at)`, sql`timezone`)} AS due_offset,
          count(*) AS n,
          count(*) FILTER (WHERE error = 'suppressed') AS suppressed,
          ${firsts('delivered_at')} AS delivered, ${firsts('opened_at')} AS opened, ${firsts('clicked_at')} AS clicked,
          ${firsts('bounced_at')} AS bounced, ${firsts('complained_at')} AS complained, ${firsts('unsubscribed_at')} AS unsubscribed
        FROM deliveries WHERE campaign_id = ${campaignId}
        GROUP BY timezone, status`.execute(db)
    : await sql<GroupRow>`
        WITH ledger AS (
          -- A wave's time is the earliest of all its rows, whatever their status now.
          SELECT timezone, status, sum(deliveries) AS n, sum(suppressed) AS suppressed,
            min(min(first_due)) OVER (PARTITION BY timezone) AS due_at
          FROM campaign_ledger_counts WHERE campaign_id = ${campaignId} GROUP BY timezone, status
        )
        SELECT l.timezone, l.status, l.due_at, l.n,
          ${localTextSql(sql`l.due_at`, sql`l.timezone`)} AS due_local, ${offsetMinutesSql(sql`l.due_at`, sql`l.timezone`)} AS due_offset,
          CASE WHEN l.status = 'skipped' THEN l.suppressed ELSE 0 END AS suppressed,
          -- Per-wave firsts ride on one row of each wave (the first status), so sums stay right.
          CASE WHEN row_number() OVER (PARTITION BY l.timezone ORDER BY l.status) = 1 THEN coalesce(f.delivered, 0) ELSE 0 END AS delivered,
          CASE WHEN row_number() OVER (PARTITION BY l.timezone ORDER BY l.status) = 1 THEN coalesce(f.opened, 0) ELSE 0 END AS opened,
          CASE WHEN row_number() OVER (PARTITION BY l.timezone ORDER BY l.status) = 1 THEN coalesce(f.clicked, 0) ELSE 0 END AS clicked,
          CASE WHEN row_number() OVER (PARTITION BY l.timezone ORDER BY l.status) = 1 THEN coalesce(f.bounced, 0) ELSE 0 END AS bounced,
          CASE WHEN row_number() OVER (PARTITION BY l.timezone ORDER BY l.status) = 1 THEN coalesce(f.complained, 0) ELSE 0 END AS complained,
          CASE WHEN row_number() OVER (PARTITION BY l.timezone ORDER BY l.status) = 1 THEN coalesce(f.unsubscribed, 0) ELSE 0 END AS unsubscribed
        FROM ledger l
        LEFT JOIN campaign_wave_firsts f ON f.campaign_id = ${campaignId} AND f.timezone = l.timezone
        -- Groups every row has left (sending, once a batch is recorded) are not statuses of the wave.
        WHERE l.n <> 0`.execute(db);
  const waves = { rows: foldWaves(groups.rows) };
  const kinds = await sql<{ kind: string; events: string }>`
    SELECT kind, sum(events) AS events FROM campaign_event_counts
    WHERE campaign_id = ${campaignId} AND bucket > coalesce(${sinceTs}::timestamptz - interval '15 minutes', '-infinity')
    GROUP BY kind`.execute(db);
  const links = await sql<{ link: string; unique_clicks: string; clicks: string }>`
    SELECT link, unique_clicks, clicks FROM campaign_link_counts WHERE campaign_id = ${campaignId}
    ORDER BY unique_clicks DESC, clicks DESC, link LIMIT ${options.topLinks ?? 10}`.execute(db);
  // date_trunc with a zone keeps the two 01:00 hours of a DST fall-back apart. The hours between
  // the first and the last are filled in (up to a month of them), each with its local time.
  const hours = await sql<{ local: string; offset_minutes: number; opens: string | null; clicks: string | null }>`
    WITH counted AS (
      SELECT date_trunc('hour', bucket, ${tz}) AS hour,
        sum(events) FILTER (WHERE kind = 'Open') AS opens, sum(events) FILTER (WHERE kind = 'Click') AS clicks
      FROM campaign_event_counts
      WHERE campaign_id = ${campaignId} AND kind IN ('Open', 'Click')
        AND bucket > coalesce(${sinceTs}::timestamptz - interval '15 minutes', '-infinity')
      GROUP BY 1
    ), hours AS (
      -- Zones are whole hours apart from UTC or not (+05:45): steps of an absolute hour from the
      -- first local hour stay on local hour boundaries either way.
      SELECT generate_series(min(hour), max(hour), interval '1 hour') AS hour FROM counted
      HAVING max(hour) - min(hour) <= ${MAX_FILLED_HOURS}::int * interval '1 hour'
      UNION SELECT hour FROM counted
    )
    SELECT ${localTextSql(sql`h.hour`, tz)} AS local, ${offsetMinutesSql(sql`h.hour`, tz)} AS offset_minutes, c.opens, c.clicks
    FROM hours h LEFT JOIN counted c USING (hour)
    ORDER BY h.hour`.execute(db);

  const total = (k: string) => n(kinds.rows.find((r) => r.kind === k)?.events);
  const sum = (f: (w: WaveRow) => number) => waves.rows.reduce((s, w) => s + f(w), 0);
  const sent = sum((w) => w.sent);
  const delivered = sum((w) => w.delivered);
  const uniqueOpens = sum((w) => w.opened);
  const uniqueClicks = sum((w) => w.clicked);
  const complained = sum((w) => w.complained);
  const hard = total('Bounce:Permanent');
  const skipped = sum((w) => w.skipped);
  const suppressed = sum((w) => w.suppressed);
  const rates = {
    delivery: rate(delivered, sent),
    open: rate(uniqueOpens, delivered),
    click: rate(uniqueClicks, delivered),
    clickToOpen: rate(uniqueClicks, uniqueOpens),
    bounce: rate(hard, sent),
    complaint: rate(complained, delivered),
  };
  return {
    campaign: campaign.id,
    name: campaign.name,
    status: campaign.status,
    pausedReason: campaign.paused_reason,
    accountStop: await accountStopState(db),
    heldByWarmup: await heldByWarmup(db, campaign.id, campaign.status),
    timezone: tz,
    since: since?.toISOString() ?? null,
    recipients: sum((w) => w.recipients),
    sent,
    delivered,
    bounced: { hard, soft: total('Bounce:Transient') + total('Bounce:Undetermined') },
    complained,
    unsubscribed: sum((w) => w.unsubscribed),
    opens: { unique: uniqueOpens, total: total('Open') },
    clicks: { unique: uniqueClicks, total: total('Click') },
    failed: sum((w) => w.failed),
    errors: await failedByError(db, campaign.id),
    unknown: sum((w) => w.unknown),
    skipped,
    skippedBreakdown: { late: skipped - suppressed, suppressed },
    sunset: campaign.sunset_skipped,
    queued: sum((w) => w.queued),
    sending: sum((w) => w.sending),
    rates,
    alerts: alertsFor(rates),
    links: links.rows.map((l) => ({ url: l.link, unique: n(l.unique_clicks), total: n(l.clicks) })),
    waves: waves.rows.map((w) => ({
      timezone: w.timezone,
      dueAt: w.due_at ? new Date(w.due_at).toISOString() : null,
      dueAtLocal: w.due_local,
      recipients: n(w.recipients),
      sent: n(w.sent),
      delivered: n(w.delivered),
      opened: n(w.opened),
      clicked: n(w.clicked),
      bounced: n(w.bounced),
      complained: n(w.complained),
      skipped: n(w.skipped),
      failed: n(w.failed),
      unknown: n(w.unknown),
      queued: n(w.queued),
    })),
    timeline: hours.rows.map((h) => ({ hour: isoWithOffset(h.local, h.offset_minutes, tz), opens: n(h.opens), clicks: n(h.clicks) })),
    ...(await experimentStats(db, campaign.id)),
  };
}

async function experimentStats(db: Kysely<Database>, campaignId: number): Promise<Pick<CampaignStats, 'variants' | 'test'>> {
  const test = await testState(db, campaignId);
  return { variants: await variantStats(db, campaignId, test), test };
}

export function alertsFor(rates: CampaignStats['rates']): RateAlert[] {
  const alerts: RateAlert[] = [];
  if (rates.bounce !== null && rates.bounce >= THRESHOLDS.bounce) {
    const pause = rates.bounce >= THRESHOLDS.bouncePause;
    alerts.push({
      metric: 'bounce',
      level: 'critical',
      rate: rates.bounce,
      threshold: pause ? THRESHOLDS.bouncePause : THRESHOLDS.bounce,
      advice: `Hard bounces are at or over ${pause ? '10% (SES may pause sending)' : '5% (SES puts accounts under review)'}: stop importing from this source, drop addresses that never engaged, and confirm new sign-ups (double opt-in).`,
    });
  }
  if (rates.complaint !== null && rates.complaint >= THRESHOLDS.complaintWarning) {
    const critical = rates.complaint >= THRESHOLDS.complaintCritical;
    alerts.push({
      metric: 'complaint',
      level: critical ? 'critical' : 'warning',
      rate: rates.complaint,
      threshold: critical ? THRESHOLDS.complaintCritical : THRESHOLDS.complaintWarning,
      advice: critical
        ? 'Spam complaints are at or over 0.3%: Gmail and Yahoo start filtering or rejecting your mail. Mail only people who asked for it, make unsubscribing obvious, and send less often until it falls.'
        : 'Spam complaints are over 0.1%, the level Gmail and Yahoo ask senders to stay under: check that everyone opted in and that the unsubscribe link is easy to find.',
    });
  }
  return alerts;
}

export interface CampaignSummary {
  campaign: number;
  name: string;
  status: string;
  recipients: number;
  sent: number;
  delivered: number;
  opens: number;
  clicks: number;
  bounced: number;
  complained: number;
  rates: { open: number | null; click: number | null; bounce: number | null; complaint: number | null };
}

/**
 * The campaign's failed deliveries by error. Errors are stored normalised, so this is a few
 * groups; grouping again in TypeScript merges rows recorded before normalisation.
 */
async function failedByError(db: Kysely<Database>, campaignId: number): Promise<ErrorGroup[]> {
  const { rows } = await sql<{ error: string | null; count: number }>`
    SELECT error, count(*)::int AS count FROM deliveries WHERE campaign_id = ${campaignId} AND status = 'failed' GROUP BY error`.execute(db);
  return groupErrors(rows);
}

export interface AccountStopState {
  reason: string;
  since: string;
}

/** The account-level stop in force, if any (src/sending/policy/account-stop.ts records it). */
export async function accountStopState(db: Kysely<Database>): Promise<AccountStopState | null> {
  const { rows } = await sql<{ reason: string; stopped_at: Date }>`SELECT reason, stopped_at FROM account_stop`.execute(db);
  const row = rows[0];
  return row ? { reason: row.reason, since: new Date(row.stopped_at).toISOString() } : null;
}

/** Whether today's warm-up counter is full while this campaign has due deliveries queued. */
async function heldByWarmup(db: Kysely<Database>, campaignId: number, status: string): Promise<CampaignStats['heldByWarmup']> {
  if (status !== 'running') return null;
  const { rows } = await sql<{ day: string; cap: number; used: number; due: number }>`
    SELECT to_char(w.day, 'YYYY-MM-DD') AS day, w.cap, w.used,
      (SELECT count(*)::int FROM deliveries d WHERE d.campaign_id = ${campaignId} AND d.status = 'queued' AND d.due_at <= now()) AS due
    FROM warmup_days w WHERE w.day = (now() AT TIME ZONE 'UTC')::date AND w.used >= w.cap`.execute(db);
  const row = rows[0];
  return row && row.due > 0 ? row : null;
}

/** Every campaign with its headline figures, newest first. */
export async function listCampaignStats(db: Kysely<Database>): Promise<{ campaigns: CampaignSummary[]; unmatchedEvents: number }> {
  const rows = await sql<{ id: number; name: string; status: string; recipients: string; sent: string; delivered: string; opened: string; clicked: string; complained: string; hard: string }>`
    SELECT c.id, c.name, c.status,
      coalesce(d.recipients, 0) AS recipients, coalesce(d.sent, 0) AS sent, coalesce(f.delivered, 0) AS delivered,
      coalesce(f.opened, 0) AS opened, coalesce(f.clicked, 0) AS clicked, coalesce(f.complained, 0) AS complained,
      coalesce((SELECT sum(events) FROM campaign_event_counts e WHERE e.campaign_id = c.id AND e.kind = 'Bounce:Permanent'), 0) AS hard
    FROM campaigns c
    -- The maintained counts, not a pass over every campaign's deliveries.
    LEFT JOIN LATERAL (
      SELECT sum(deliveries) AS recipients, sum(deliveries) FILTER (WHERE status = 'sent') AS sent
      FROM campaign_ledger_counts WHERE campaign_id = c.id
    ) d ON true
    LEFT JOIN LATERAL (
      SELECT sum(delivered) AS delivered, sum(opened) AS opened, sum(clicked) AS clicked, sum(complained) AS complained
      FROM campaign_wave_firsts WHERE campaign_id = c.id
    ) f ON true
    ORDER BY c.created_at DESC, c.id DESC`.execute(db);
  const unmatched = await sql<{ n: string }>`SELECT count(*) AS n FROM email_events WHERE delivery_id IS NULL`.execute(db);
  return {
    campaigns: rows.rows.map((r) => {
      const sent = n(r.sent);
      const delivered = n(r.delivered);
      return {
        campaign: r.id,
        name: r.name,
        status: r.status,
        recipients: n(r.recipients),
        sent,
        delivered,
        opens: n(r.opened),
        clicks: n(r.clicked),
        bounced: n(r.hard),
        complained: n(r.complained),
        rates: { open: rate(n(r.opened), delivered), click: rate(n(r.clicked), delivered), bounce: rate(n(r.hard), sent), complaint: rate(n(r.complained), delivered) },
      };
    }),
    unmatchedEvents: n(unmatched.rows[0]?.n),
  };
}
