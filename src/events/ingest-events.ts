import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, DeliveryStatus } from '../db/types.js';
import { withDbRetry } from '../db/retry.js';
import { storeIsolatingRefused } from './isolate-poison.js';
import { applyAddressOutcomes, type AddressOutcome } from '../subscribers/suppress.js';
import { isMalformed, parseSesRecord, unsubscribes, type Malformed, type RecordInput, type SesEvent } from './parse-ses-event.js';

export interface IngestOptions {
  /** Transient bounces in a row that suppress an address (config soft_bounce_limit). */
  softBounceLimit: number;
  /** The SES list-management topic we send to: opting out of it unsubscribes. */
  topic?: string | undefined;
  /** Store each event's details object (config events_payload: full); default: columns only. */
  keepPayload?: boolean | undefined;
}

export interface IngestCounts {
  /** New rows in email_events. */
  ingested: number;
  /** Records already stored (or repeated within the input): nothing changed for them. */
  duplicates: number;
  /** Stored events that match no delivery (mail marketer did not send). */
  unmatched: number;
  malformed: number;
  /** Stored events of a type this version does not know: kept raw, not acted on. */
  unknown: number;
  /** `unknown` deliveries settled by an event (the ambiguity a send timeout leaves). */
  settled: number;
  /** New suppressions (hard bounces, complaints, unsubscribes, soft-bounce limit). */
  suppressed: number;
}

export interface IngestResult extends IngestCounts {
  /** Every malformed record with its position; the rest of the batch was stored. */
  problems: Malformed[];
}

export function emptyCounts(): IngestResult {
  return { ingested: 0, duplicates: 0, unmatched: 0, malformed: 0, unknown: 0, settled: 0, suppressed: 0, problems: [] };
}

export function addCounts(into: IngestResult, more: IngestResult): IngestResult {
  for (const k of ['ingested', 'duplicates', 'unmatched', 'malformed', 'unknown', 'settled', 'suppressed'] as const) into[k] += more[k];
  into.problems.push(...more.problems);
  return into;
}

type Db = Kysely<Database>;
type Trx = Transaction<Database>;

interface LedgerRow {
  id: string;
  campaign_id: number;
  subscriber_id: string;
  message_id: string | null;
  status: DeliveryStatus;
}

interface Matched {
  event: SesEvent;
  delivery: LedgerRow | undefined;
  campaignId: number | undefined;
}

// 15-minute buckets: every zone's offset is a multiple of 15 minutes (Asia/Kathmandu +05:45,
// Pacific/Chatham +13:45), so hourly timelines in any viewer's zone come out exact.
const BUCKET_MS = 15 * 60 * 1000;

/** The rollup kind of an event: its type, bounces split by bounce type. */
export function rollupKind(e: SesEvent): string {
  return e.bounce ? `Bounce:${e.bounce.type}` : e.type;
}

/**
 * Store a batch of records: parse, match to the ledger, insert new events (a conflict on the
 * dedupe key means already stored), and apply what the new ones mean, all in one transaction.
 * A malformed record is reported and skipped; the rest are stored.
 */
export async function ingestRecords(db: Db, inputs: RecordInput[], options: IngestOptions): Promise<IngestResult> {
  return ingestEvents(db, parseRecords(inputs), options);
}

/** Parse records into events, keeping the malformed ones with their positions. */
export function parseRecords(inputs: RecordInput[]): { events: SesEvent[]; malformed: Malformed[] } {
  const events: SesEvent[] = [];
  const malformed: Malformed[] = [];
  for (const input of inputs) {
    const parsed = parseSesRecord(input);
    if (isMalformed(parsed)) malformed.push(parsed);
    else events.push(parsed);
  }
  return { events, malformed };
}

/** Store parsed events (see ingestRecords); `malformed` are only counted and reported. */
export async function ingestEvents(db: Db, parsed: { events: SesEvent[]; malformed: Malformed[] }, options: IngestOptions): Promise<IngestResult> {
  const result = emptyCounts();
  result.problems.push(...parsed.malformed);
  result.malformed = parsed.malformed.length;
  const events: SesEvent[] = [];
  const seen = new Set<string>();
  for (const e of parsed.events) {
    const key = `${e.dedupeKey}|${e.time.getTime()}`;
    if (seen.has(key)) {
      result.duplicates += 1;
      continue;
    }
    seen.add(key);
    events.push(e);
  }
  if (events.length === 0) return result;

  const matched = await matchLedger(db, events);
  let refused = 0;
  const parts = await storeIsolatingRefused(
    matched,
    (part) => withDbRetry(() => db.transaction().execute((trx) => storeAndApply(trx, part, options))),
    (m, err) => {
      refused += 1;
      result.problems.push({ position: `${m.event.type} event ${m.event.messageId ?? m.event.dedupeKey}`, reason: `refused by the database: ${(err as Error).message}` });
    },
  );
  result.malformed += refused;
  for (const applied of parts) {
    result.ingested += applied.ingested;
    result.unmatched += applied.unmatched;
    result.unknown += applied.unknown;
    result.settled += applied.settled;
    result.suppressed += applied.suppressed;
  }
  result.duplicates += matched.length - refused - result.ingested;
  return result;
}

/**
 * Match by the `delivery` EmailTag, falling back to the SES message id (the older notification
 * format has no tags). A tag is trusted only if the row agrees with the event (same message id
 * once known, same campaign tag): another installation's tags must not touch our ledger.
 */
async function matchLedger(db: Db, events: SesEvent[]): Promise<Matched[]> {
  const ids = [...new Set(events.flatMap((e) => (e.deliveryTag ? [e.deliveryTag] : [])))];
  const byId = new Map<string, LedgerRow>();
  if (ids.length > 0) {
    const rows = await sql<LedgerRow>`
      SELECT id::text AS id, campaign_id, subscriber_id::text AS subscriber_id, message_id, status
      FROM deliveries WHERE id = ANY(${ids}::bigint[])`.execute(db);
    for (const r of rows.rows) byId.set(r.id, r);
  }
  const agrees = (e: SesEvent, d: LedgerRow | undefined) =>
    d !== undefined && (d.message_id === null || d.message_id === e.messageId) && (e.campaignTag === undefined || e.campaignTag === d.campaign_id);
  const needMessage = [...new Set(events.flatMap((e) => (!agrees(e, e.deliveryTag ? byId.get(e.deliveryTag) : undefined) && e.messageId ? [e.messageId] : [])))];
  const byMessage = new Map<string, LedgerRow>();
  if (needMessage.length > 0) {
    const rows = await sql<LedgerRow>`
      SELECT id::text AS id, campaign_id, subscriber_id::text AS subscriber_id, message_id, status
      FROM deliveries WHERE message_id = ANY(${needMessage}::text[])`.execute(db);
    for (const r of rows.rows) if (r.message_id) byMessage.set(r.message_id, r);
  }
  return events.map((event) => {
    const tagged = event.deliveryTag ? byId.get(event.deliveryTag) : undefined;
    const delivery = agrees(event, tagged) ? tagged : event.messageId ? byMessage.get(event.messageId) : undefined;
    return { event, delivery, campaignId: delivery?.campaign_id ?? event.campaignTag };
  });
}

const FIRST_COLUMN: Record<string, 'delivered' | 'opened' | 'clicked' | 'bounced' | 'complained' | undefined> = {
  Delivery: 'delivered',
  Open: 'opened',
  Click: 'clicked',
  Bounce: 'bounced',
  Complaint: 'complained',
};

interface Applied {
  ingested: number;
  unmatched: number;
  unknown: number;
  settled: number;
  suppressed: number;
}

async function storeAndApply(trx: Trx, matched: Matched[], options: IngestOptions): Promise<Applied> {
  const col = <T>(f: (m: Matched) => T) => matched.map(f);
  // One statement for the batch; the conflict target is the dedupe index (dedupe_key, time),
  // so a replay inserts nothing and RETURNING tells which rows are new.
  const inserted = await sql<{ dedupe_key: string; time: Date }>`
    INSERT INTO email_events (time, dedupe_key, event_type, campaign_id, delivery_id, message_id, recipient_hash, bounce_type, bounce_subtype, link, payload)
    SELECT t, k, ty, c, d, m, marketer_address_hash(r), bt, bs, l, p::jsonb
    FROM unnest(
      ${col((m) => m.event.time.toISOString())}::timestamptz[],
      ${col((m) => m.event.dedupeKey)}::text[],
      ${col((m) => m.event.type)}::text[],
      ${col((m) => m.campaignId ?? null)}::int[],
      ${col((m) => m.delivery?.id ?? null)}::bigint[],
      ${col((m) => m.event.messageId ?? null)}::text[],
      ${col((m) => m.event.recipient ?? null)}::text[],
      ${col((m) => m.event.bounce?.type ?? null)}::text[],
      ${col((m) => m.event.bounce?.subType ?? null)}::text[],
      ${col((m) => m.event.click?.link ?? null)}::text[],
      ${col((m) => (m.event.payload === undefined || !options.keepPayload ? null : JSON.stringify(m.event.payload)))}::text[]
    ) AS u(t, k, ty, c, d, m, r, bt, bs, l, p)
    ON CONFLICT (dedupe_key, time) DO NOTHING
    RETURNING dedupe_key, time`.execute(trx);
  const fresh = new Set(inserted.rows.map((r) => `${r.dedupe_key}|${new Date(r.time).getTime()}`));
  const now = matched.filter((m) => fresh.has(`${m.event.dedupeKey}|${m.event.time.getTime()}`));
  const applied: Applied = { ingested: now.length, unmatched: 0, unknown: 0, settled: 0, suppressed: 0 };
  if (now.length === 0) return applied;
  now.sort((a, b) => a.event.time.getTime() - b.event.time.getTime());

  // Rollups: keys sorted so concurrent ingesters take row locks in one order (no deadlocks).
  const counts = new Map<string, { c: number; kind: string; bucket: number; n: number }>();
  for (const m of now) {
    if (!m.event.known) applied.unknown += 1;
    if (!m.delivery) applied.unmatched += 1;
    if (m.campaignId === undefined) continue;
    const kind = rollupKind(m.event);
    const bucket = Math.floor(m.event.time.getTime() / BUCKET_MS) * BUCKET_MS;
    const key = `${m.campaignId}\u0000${kind}\u0000${bucket}`;
    const entry = counts.get(key) ?? { c: m.campaignId, kind, bucket, n: 0 };
    entry.n += 1;
    counts.set(key, entry);
  }
  if (counts.size > 0) {
    const rows = [...counts.values()].sort((a, b) => a.c - b.c || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.bucket - b.bucket));
    await sql`
      INSERT INTO campaign_event_counts (campaign_id, kind, bucket, events)
      SELECT * FROM unnest(${rows.map((r) => r.c)}::int[], ${rows.map((r) => r.kind)}::text[],
                           ${rows.map((r) => new Date(r.bucket).toISOString())}::timestamptz[], ${rows.map((r) => r.n)}::bigint[])
      ON CONFLICT (campaign_id, kind, bucket) DO UPDATE SET events = campaign_event_counts.events + excluded.events`.execute(trx);
  }
  await countLinks(trx, now);
  applied.settled = await updateDeliveries(trx, now, options.topic);

  const outcomes: AddressOutcome[] = [];
  for (const m of now) {
    const e = m.event;
    const who = { subscriberId: m.delivery?.subscriber_id, email: e.recipient };
    if (e.type === 'Bounce' && e.bounce) {
      const detail = `${e.bounce.type}/${e.bounce.subType} bounce`;
      outcomes.push({ ...who, kind: e.bounce.type === 'Permanent' ? 'hard-bounce' : 'soft-bounce', detail });
    } else if (e.type === 'Complaint') outcomes.push({ ...who, kind: 'complaint', detail: 'complaint' });
    else if (e.type === 'Delivery') outcomes.push({ ...who, kind: 'delivered' });
    else if (unsubscribes(e, options.topic)) outcomes.push({ ...who, kind: 'unsubscribe', detail: 'SES subscription management' });
  }
  if (outcomes.length > 0) applied.suppressed = (await applyAddressOutcomes(trx, outcomes, { softBounceLimit: options.softBounceLimit })).suppressions;
  return applied;
}

async function countLinks(trx: Trx, events: Matched[]): Promise<void> {
  const clicks = events.filter((m) => m.event.click && m.campaignId !== undefined);
  if (clicks.length === 0) return;
  const pairs = [...new Map(clicks.filter((m) => m.delivery).map((m) => [`${m.delivery!.id}\u0000${m.event.click!.link}`, m])).values()]
    .sort((a, b) => byId(a.delivery!.id, b.delivery!.id) || (a.event.click!.link < b.event.click!.link ? -1 : a.event.click!.link > b.event.click!.link ? 1 : 0));
  const firsts = new Set<string>();
  if (pairs.length > 0) {
    const r = await sql<{ delivery_id: string; link: string }>`
      INSERT INTO delivery_link_clicks (delivery_id, link)
      SELECT * FROM unnest(${pairs.map((m) => m.delivery!.id)}::bigint[], ${pairs.map((m) => m.event.click!.link)}::text[])
      ON CONFLICT DO NOTHING
      RETURNING delivery_id::text AS delivery_id, link`.execute(trx);
    for (const row of r.rows) firsts.add(`${row.delivery_id}\u0000${row.link}`);
  }
  const perLink = new Map<string, { c: number; link: string; clicks: number; unique: number }>();
  for (const m of clicks) {
    const link = m.event.click!.link;
    const key = `${m.campaignId}\u0000${link}`;
    const entry = perLink.get(key) ?? { c: m.campaignId!, link, clicks: 0, unique: 0 };
    entry.clicks += 1;
    const pair = m.delivery ? `${m.delivery.id}\u0000${link}` : undefined;
    if (pair && firsts.delete(pair)) entry.unique += 1;
    perLink.set(key, entry);
  }
  const rows = [...perLink.values()].sort((a, b) => a.c - b.c || (a.link < b.link ? -1 : a.link > b.link ? 1 : 0));
  await sql`
    INSERT INTO campaign_link_counts (campaign_id, link, clicks, unique_clicks)
    SELECT * FROM unnest(${rows.map((r) => r.c)}::int[], ${rows.map((r) => r.link)}::text[], ${rows.map((r) => r.clicks)}::bigint[], ${rows.map((r) => r.unique)}::bigint[])
    ON CONFLICT (campaign_id, link) DO UPDATE
    SET clicks = campaign_link_counts.clicks + excluded.clicks, unique_clicks = campaign_link_counts.unique_clicks + excluded.unique_clicks`.execute(trx);
}

interface DeliveryChange {
  id: string;
  delivered?: Date; opened?: Date; clicked?: Date; bounced?: Date; complained?: Date; unsubscribed?: Date;
  settle?: 'sent' | 'failed';
  sentAt?: Date;
  messageId?: string | undefined;
  error?: string;
}

/** Order of bigint ids given as strings, without BigInt: shorter is smaller, then by text. */
function byId(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

const minDate = (a: Date | undefined, b: Date) => (a === undefined || b < a ? b : a);

/**
 * First-event timestamps (the earliest wins, whatever the arrival order) and settlement of
 * `unknown` sends: any event SES emits after accepting the mail proves it was sent; a Reject or
 * Rendering Failure proves it was not.
 */
async function updateDeliveries(trx: Trx, events: Matched[], topic: string | undefined): Promise<number> {
  const changes = new Map<string, DeliveryChange>();
  let settled = 0;
  for (const m of events) {
    if (!m.delivery || !m.event.known) continue;
    const e = m.event;
    const c = changes.get(m.delivery.id) ?? { id: m.delivery.id };
    const first = FIRST_COLUMN[e.type];
    if (first) c[first] = minDate(c[first], e.time);
    if (unsubscribes(e, topic)) c.unsubscribed = minDate(c.unsubscribed, e.time);
    if (m.delivery.status === 'unknown' && c.settle === undefined) {
      if (e.type === 'Reject' || e.type === 'Rendering Failure') {
        c.settle = 'failed';
        c.error = e.type === 'Reject' ? `SES rejected the message: ${String(e.payload?.reason ?? 'no reason given')}` : `SES rendering failure: ${String(e.payload?.errorMessage ?? '')}`;
      } else {
        c.settle = 'sent';
        c.sentAt = e.time;
      }
      settled += 1;
    }
    if (e.type === 'Send') c.sentAt = minDate(c.sentAt, e.time);
    c.messageId = e.messageId;
    changes.set(m.delivery.id, c);
  }
  if (changes.size === 0) return 0;
  const list = [...changes.values()].sort((a, b) => byId(a.id, b.id));
  const ts = (f: (c: DeliveryChange) => Date | undefined) => list.map((c) => f(c)?.toISOString() ?? null);
  // Rows are locked in id order first, so the pre-update values are exact even with another
  // batch in flight: a column that goes from NULL to set is a first, counted per wave in
  // campaign_wave_firsts in the same statement. The WHERE skips rows nothing would change (a
  // second open), so repeats cost a read, not a write.
  await sql`
    WITH u AS (
      SELECT * FROM unnest(
        ${list.map((c) => c.id)}::bigint[],
        ${ts((c) => c.delivered)}::timestamptz[], ${ts((c) => c.opened)}::timestamptz[], ${ts((c) => c.clicked)}::timestamptz[],
        ${ts((c) => c.bounced)}::timestamptz[], ${ts((c) => c.complained)}::timestamptz[], ${ts((c) => c.unsubscribed)}::timestamptz[],
        ${list.map((c) => c.settle ?? null)}::text[], ${ts((c) => c.sentAt)}::timestamptz[],
        ${list.map((c) => c.messageId ?? null)}::text[], ${list.map((c) => c.error ?? null)}::text[]
      ) AS u(id, delivered, opened, clicked, bounced, complained, unsubscribed, settle, sent, message_id, error)
    ),
    old AS (
      SELECT d.id, d.delivered_at, d.opened_at, d.clicked_at, d.bounced_at, d.complained_at, d.unsubscribed_at
      FROM deliveries d JOIN u ON u.id = d.id ORDER BY d.id FOR UPDATE OF d
    ),
    changed AS (
      UPDATE deliveries d SET
        delivered_at = LEAST(d.delivered_at, u.delivered),
        opened_at = LEAST(d.opened_at, u.opened),
        clicked_at = LEAST(d.clicked_at, u.clicked),
        bounced_at = LEAST(d.bounced_at, u.bounced),
        complained_at = LEAST(d.complained_at, u.complained),
        unsubscribed_at = LEAST(d.unsubscribed_at, u.unsubscribed),
        status = CASE WHEN d.status = 'unknown' AND u.settle IS NOT NULL THEN u.settle ELSE d.status END,
        sent_at = CASE WHEN d.status = 'unknown' AND u.settle = 'sent' THEN COALESCE(d.sent_at, u.sent) ELSE d.sent_at END,
        error = CASE WHEN d.status = 'unknown' AND u.settle = 'failed' THEN u.error ELSE d.error END,
        message_id = COALESCE(d.message_id, u.message_id)
      FROM u, old
      WHERE d.id = u.id AND old.id = d.id AND (
        d.delivered_at IS DISTINCT FROM LEAST(d.delivered_at, u.delivered) OR d.opened_at IS DISTINCT FROM LEAST(d.opened_at, u.opened)
        OR d.clicked_at IS DISTINCT FROM LEAST(d.clicked_at, u.clicked) OR d.bounced_at IS DISTINCT FROM LEAST(d.bounced_at, u.bounced)
        OR d.complained_at IS DISTINCT FROM LEAST(d.complained_at, u.complained)
        OR d.unsubscribed_at IS DISTINCT FROM LEAST(d.unsubscribed_at, u.unsubscribed)
        OR (d.status = 'unknown' AND u.settle IS NOT NULL) OR (d.message_id IS NULL AND u.message_id IS NOT NULL))
      RETURNING d.campaign_id, d.timezone,
        (old.delivered_at IS NULL AND d.delivered_at IS NOT NULL)::int AS delivered,
        (old.opened_at IS NULL AND d.opened_at IS NOT NULL)::int AS opened,
        (old.clicked_at IS NULL AND d.clicked_at IS NOT NULL)::int AS clicked,
        (old.bounced_at IS NULL AND d.bounced_at IS NOT NULL)::int AS bounced,
        (old.complained_at IS NULL AND d.complained_at IS NOT NULL)::int AS complained,
        (old.unsubscribed_at IS NULL AND d.unsubscribed_at IS NOT NULL)::int AS unsubscribed
    ),
    firsts AS (
      SELECT campaign_id, timezone, sum(delivered) AS delivered, sum(opened) AS opened, sum(clicked) AS clicked,
        sum(bounced) AS bounced, sum(complained) AS complained, sum(unsubscribed) AS unsubscribed
      FROM changed GROUP BY campaign_id, timezone
      HAVING sum(delivered + opened + clicked + bounced + complained + unsubscribed) > 0
    )
    INSERT INTO campaign_wave_firsts AS w (campaign_id, timezone, delivered, opened, clicked, bounced, complained, unsubscribed)
    SELECT * FROM firsts ORDER BY campaign_id, timezone
    ON CONFLICT (campaign_id, timezone) DO UPDATE SET
      delivered = w.delivered + excluded.delivered, opened = w.opened + excluded.opened, clicked = w.clicked + excluded.clicked,
      bounced = w.bounced + excluded.bounced, complained = w.complained + excluded.complained, unsubscribed = w.unsubscribed + excluded.unsubscribed`.execute(trx);
  return settled;
}

/**
 * Ingest an async stream of parsed batches (a file), one transaction per batch, two
 * batches in flight: while Postgres stores one, Node parses the next (1M events: 9k/s with one
 * in flight, see docs/events.md for two). Row locks are taken in id order in every statement,
 * and a deadlock (40P01) retries the batch, so concurrent batches cannot wedge each other.
 */
export async function ingestBatches(
  db: Db,
  batches: AsyncIterable<{ events: SesEvent[]; malformed: Malformed[] }>,
  options: IngestOptions,
  onBatch?: (total: IngestResult) => void,
  concurrency = 2,
): Promise<IngestResult> {
  const total = emptyCounts();
  const problems: Malformed[][] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: { err: unknown } | undefined;
  let seq = 0;
  for await (const batch of batches) {
    if (failure) break;
    const index = seq++;
    const p: Promise<void> = ingestEvents(db, batch, options).then(
      (r) => {
        problems[index] = r.problems;
        r.problems = [];
        addCounts(total, r);
        onBatch?.(total);
      },
      (err: unknown) => {
        failure ??= { err };
      },
    );
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    if (inFlight.size >= concurrency) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  if (failure) throw failure.err;
  // Problems in input order, whichever batch finished first.
  total.problems = problems.flatMap((x) => x ?? []);
  return total;
}
