import { sql, type Kysely } from 'kysely';
import { DateTime } from 'luxon';
import { PLACEHOLDER_UNSUBSCRIBE_SECRET, SAMPLE_RECIPIENT, type CompiledCampaign } from '../campaigns/index.js';
import { audienceFunnel, type FunnelStep } from '../audience/audience-funnel.js';
import type { Database } from '../db/types.js';
import { errorMessage } from '../errors.js';
import { dueAtExpression, isSuppressed, matchesAudience, waveZoneExpression } from './audience.js';
import { describeAwsError } from './aws-error.js';
import { planTest, type PlanTest } from '../experiments/plan-test.js';
import type { Mailer } from './mailer.js';
import { spillOverDays, utcDay, warmupDay, type SpillDay, type WarmupSchedule } from './policy/warmup-cap.js';

export interface PlanWave {
  /** Wall-clock time in the wave's zone(s), e.g. 2026-12-01T08:00. */
  local_time: string;
  /** ISO-8601 UTC. */
  fire_at: string;
  timezones: string[];
  count: number;
  /** Already past when planned: sent late (or skipped, with `late: skip` past late_grace). */
  late: boolean;
  skipped: boolean;
}

export interface PlanCheck {
  name: string;
  ok: boolean;
  detail: string;
  /** Passes, but costs deliverability or needs a look (shown as !). */
  warning?: boolean;
}

export interface PlanQuota {
  transport: string;
  max_24_hour_send: number | null;
  sent_last_24_hours: number | null;
  /** null when unlimited or unknown. */
  remaining: number | null;
  max_send_rate: number | null;
  production_access: boolean | null;
  sending_enabled: boolean | null;
  /** This campaign's sends fit in what is left of the 24-hour quota. */
  fits: boolean;
  detail: string;
}

export interface PlanResult {
  campaign: number;
  name: string;
  file: string;
  /** Eligible subscribers: active, matching the tags, not suppressed. */
  audience: number;
  excluded: { suppressed: number; unsubscribed: number; bounced: number; complained: number; not_matching: number; sunset: number };
  /** Each audience condition in order, with how many reachable subscribers it removed. */
  conditions: FunnelStep[];
  waves: PlanWave[];
  late: number;
  skipped: number;
  already_enqueued: number;
  /** What `send` would add to the ledger now (0 on a re-run). */
  would_enqueue: number;
  status: string | null;
  quota: PlanQuota;
  checks: PlanCheck[];
  /** Under a warm-up cap: how the waves spill over days (the cap is shared with other campaigns). */
  warmup: SpillDay[] | null;
  /** The A/B test (variants, test share, when the winner is chosen), or null. */
  test: PlanTest | null;
}

/** Everything `send` would do, computed without writing anything. */
export async function planCampaign(db: Kysely<Database>, compiled: CompiledCampaign, mailer: Mailer, now: Date, warmup?: WarmupSchedule): Promise<PlanResult> {
  const c = compiled.campaign;
  const due = dueAtExpression(c.schedule, now);
  const counts = await sql<{ matching: number; not_matching: number; unsubscribed: number; bounced: number; complained: number; suppressed: number }>`
    SELECT count(*) FILTER (WHERE m) ::int AS matching,
           count(*) FILTER (WHERE NOT m)::int AS not_matching,
           count(*) FILTER (WHERE m AND status = 'unsubscribed')::int AS unsubscribed,
           count(*) FILTER (WHERE m AND status = 'bounced')::int AS bounced,
           count(*) FILTER (WHERE m AND status = 'complained')::int AS complained,
           count(*) FILTER (WHERE m AND status = 'active' AND sup)::int AS suppressed
    FROM (SELECT ${matchesAudience(c.audience, { sunset: false })} AS m, s.status, ${isSuppressed} AS sup FROM subscribers s) x`.execute(db);
  const k = counts.rows[0]!;
  const conditions = await audienceFunnel(db, c.audience, isSuppressed);
  const waves = await sql<{ fire_at: Date; timezones: string[]; count: number }>`
    SELECT due AS fire_at, array_agg(DISTINCT zone ORDER BY zone) AS timezones, count(*)::int AS count
    FROM (SELECT ${due} AS due, ${waveZoneExpression(c.schedule)} AS zone FROM subscribers s
          WHERE s.status = 'active' AND ${matchesAudience(c.audience)} AND NOT ${isSuppressed}) x
    GROUP BY due ORDER BY due`.execute(db);
  const existing = await sql<{ enqueued: number; would: number; status: string | null }>`
    SELECT (SELECT count(*)::int FROM deliveries WHERE campaign_id = ${c.id}) AS enqueued,
           (SELECT count(*)::int FROM subscribers s
             WHERE s.status = 'active' AND ${matchesAudience(c.audience)} AND NOT ${isSuppressed}
               AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.campaign_id = ${c.id} AND d.subscriber_id = s.id)) AS would,
           (SELECT status FROM campaigns WHERE id = ${c.id}) AS status`.execute(db);
  const e = existing.rows[0]!;
  const graceMs = c.schedule.lateGraceSeconds * 1000;
  const planWaves: PlanWave[] = waves.rows.map((w) => {
    const zone = w.timezones.length === 1 ? w.timezones[0]! : 'UTC';
    const local = c.schedule.at ? `${c.schedule.at.date}T${c.schedule.at.time}` : DateTime.fromJSDate(w.fire_at, { zone }).toFormat("yyyy-MM-dd'T'HH:mm");
    const late = w.fire_at.getTime() < now.getTime() - 60_000;
    const skipped = c.schedule.late === 'skip' && w.fire_at.getTime() < now.getTime() - graceMs;
    return { local_time: local, fire_at: w.fire_at.toISOString().replace('.000Z', 'Z'), timezones: w.timezones, count: w.count, late, skipped };
  });
  const audience = planWaves.reduce((a, w) => a + w.count, 0);
  return {
    campaign: c.id,
    name: c.name,
    file: c.relFile,
    audience,
    excluded: { suppressed: k.suppressed, unsubscribed: k.unsubscribed, bounced: k.bounced, complained: k.complained, not_matching: k.not_matching,
      sunset: c.audience.sunset ? conditions.at(-1)?.removed ?? 0 : 0 },
    conditions,
    waves: planWaves,
    late: planWaves.filter((w) => w.late && !w.skipped).reduce((a, w) => a + w.count, 0),
    skipped: planWaves.filter((w) => w.skipped).reduce((a, w) => a + w.count, 0),
    already_enqueued: e.enqueued,
    would_enqueue: e.would,
    status: e.status,
    quota: await quotaCheck(mailer, e.would),
    checks: [...complianceChecks(compiled), ...variantChecks(compiled)],
    warmup: warmup ? await warmupSpill(db, planWaves, warmup, now) : null,
    test: await planTest(db, compiled, now, sql<boolean>`s.status = 'active' AND ${matchesAudience(c.audience)} AND NOT ${isSuppressed}`, due),
  };
}

/** Each A/B test variant is checked as the campaign is, named by its variant. */
function variantChecks(compiled: CompiledCampaign): PlanCheck[] {
  return [...(compiled.variants ?? [])].flatMap(([name, v]) => complianceChecks(v).map((ch) => ({ ...ch, name: `variant ${name}: ${ch.name}` })));
}

async function warmupSpill(db: Kysely<Database>, waves: PlanWave[], warmup: WarmupSchedule, now: Date): Promise<SpillDay[]> {
  const today = await warmupDay(db, utcDay(now));
  const sendable = waves.filter((w) => !w.skipped).map((w) => ({ fireAt: new Date(w.fire_at), count: w.count }));
  return spillOverDays(sendable, warmup, now, today?.used ?? 0);
}

async function quotaCheck(mailer: Mailer, needed: number): Promise<PlanQuota> {
  const none = { max_24_hour_send: null, sent_last_24_hours: null, remaining: null, max_send_rate: null, production_access: null, sending_enabled: null };
  let q;
  try {
    q = await mailer.quota();
  } catch (err) {
    return { transport: mailer.name, ...none, fits: false, detail: `could not read the SES quota (GetAccount): ${describeAwsError(err).line}` };
  }
  if (!q) return { transport: mailer.name, ...none, fits: true, detail: `the ${mailer.name} transport has no quota` };
  const remaining = q.max24HourSend < 0 ? null : Math.max(0, q.max24HourSend - q.sentLast24Hours);
  const fits = q.sendingEnabled && (remaining === null || needed <= remaining);
  const detail = !q.sendingEnabled
    ? 'sending is disabled for this SES account'
    : remaining === null
      ? `unlimited 24-hour quota; max ${q.maxSendRate}/s`
      : fits
        ? `${needed.toLocaleString('en-US')} of ${remaining.toLocaleString('en-US')} left in the 24-hour quota; max ${q.maxSendRate}/s`
        : `needs ${needed.toLocaleString('en-US')} sends but only ${remaining.toLocaleString('en-US')} are left in the 24-hour quota; later waves would be throttled${q.productionAccess ? '' : ' (the account is in the SES sandbox: 200 per 24 h; request production access)'}`;
  return {
    transport: mailer.name, max_24_hour_send: q.max24HourSend, sent_last_24_hours: q.sentLast24Hours, remaining,
    max_send_rate: q.maxSendRate, production_access: q.productionAccess, sending_enabled: q.sendingEnabled, fits, detail,
  };
}

/** What mailbox providers require of bulk mail (RFC 8058, Gmail/Yahoo 2024 rules), checked on a sample render. */
export function complianceChecks(compiled: CompiledCampaign): PlanCheck[] {
  const c = compiled.campaign;
  let sample;
  try {
    sample = compiled.render(SAMPLE_RECIPIENT);
  } catch (err) {
    return [{ name: 'renders', ok: false, detail: errorMessage(err) }];
  }
  const header = (n: string) => sample.headers.find((h) => h.name.toLowerCase() === n.toLowerCase())?.value;
  const checks: PlanCheck[] = [{ name: 'from address', ok: Boolean(sample.from), detail: sample.from || 'no from address: set "from" in the campaign or marketer.yaml' }];
  checks.push({ name: 'text part', ok: sample.text.trim().length > 0, detail: sample.text.trim().length > 0 ? `${sample.text.length} characters` : 'the text part is empty' });
  if (c.transactional) {
    checks.push({ name: 'unsubscribe', ok: true, detail: 'transactional mail: no unsubscribe link or headers needed' });
    return checks;
  }
  if (sample.listManagement) {
    checks.push({ name: 'unsubscribe link in body', ok: true, detail: `SES subscription management (contact list ${sample.listManagement.contactListName}, topic ${sample.listManagement.topicName})` });
    checks.push({ name: 'List-Unsubscribe headers', ok: true, detail: 'added by SES (ListManagementOptions)' });
    return checks;
  }
  const url = sample.unsubscribeUrl;
  const inBody = Boolean(url && sample.html.includes(url) && sample.text.includes(url));
  checks.push({ name: 'unsubscribe link in body', ok: inBody, detail: inBody ? 'in the HTML and text parts' : 'the template does not show {{ unsubscribe_url }} in both parts' });
  const lu = header('List-Unsubscribe');
  const lup = header('List-Unsubscribe-Post');
  const headersOk = Boolean(lu && /^<https:\/\//.test(lu) && lup === 'List-Unsubscribe=One-Click');
  checks.push({
    name: 'List-Unsubscribe headers',
    ok: headersOk,
    detail: headersOk ? 'RFC 8058 one-click (https, HMAC token)' : `List-Unsubscribe ${lu ?? 'missing'}; List-Unsubscribe-Post ${lup ?? 'missing'} (one-click needs an https unsubscribe_url)`,
  });
  if (c.unsubscribe.kind === 'token' && c.unsubscribe.secret === PLACEHOLDER_UNSUBSCRIBE_SECRET) {
    checks.push({ name: 'unsubscribe secret', ok: true, detail: 'a placeholder signs the links in this plan (MARKETER_UNSUBSCRIBE_SECRET is not set here, as in a pull request); the sending job signs them with the real secret' });
  } else if (c.unsubscribe.kind === 'token' && c.unsubscribe.development) {
    checks.push({ name: 'unsubscribe secret', ok: false, detail: 'using the development secret: set MARKETER_UNSUBSCRIBE_SECRET and unsubscribe_url before sending through SES' });
  }
  return checks;
}
