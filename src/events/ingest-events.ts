import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../db/types.js';
import { withDbRetry } from '../db/retry.js';
import { storeIsolatingRefused } from './isolate-poison.js';
import { applyAddressOutcomes, type AddressOutcome } from '../subscribers/suppress.js';
import { matchLedger, type Matched } from './match-ledger.js';
import { isMalformed, parseSesRecord, unsubscribes, type BounceType, type Malformed, type RecordInput, type SesEvent } from './parse-ses-event.js';
import { addRollups, type EventCount, type LinkCount } from './add-rollups.js';
import { sqlArray } from '../db/sql-array.js';
import { updateDeliveries } from './update-deliveries.js';

export interface IngestOptions {
  /** Transient bounces in a row that suppress an address (config soft_bounce_limit). */
  softBounceLimit: number;
  /** The SES list-management topic we send to: opting out of it unsubscribes. */
  topic?: string | undefined;
  /** Store each event's details object (config events_payload: full); default: columns only. */
  keepPayload?: boolean | undefined;
  /**
   * Most of the batch is probably stored already (a replay): look the events up first, without
   * a lock, and store only the rest, so that a replay locks no ledger row and writes nothing.
   * ingestBatches sets it after a batch that was mostly duplicates; a first ingest skips the
   * look-up, which would only find nothing.
   */
  expectDuplicates?: boolean | undefined;
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

// 15-minute buckets: every zone's offset is a multiple of 15 minutes (Asia/Kathmandu +05:45,
// Pacific/Chatham +13:45), so hourly timelines in any viewer's zone come out exact.
const BUCKET_MS = 15 * 60 * 1000;

// One string per kind, not one built per bounce.
const BOUNCE_KINDS: Record<BounceType, string> = { Permanent: 'Bounce:Permanent', Transient: 'Bounce:Transient', Undetermined: 'Bounce:Undetermined' };

/** The rollup kind of an event: its type, bounces split by bounce type. */
export function rollupKind(e: SesEvent): string {
  return e.bounce ? BOUNCE_KINDS[e.bounce.type] : e.type;
}

/**
 * Store a batch of records: parse, match to the ledger, insert new events (a conflict on the
 * dedupe key means already stored), and apply what the new ones mean, all in one transaction.
 * A malformed record is reported and skipped; the rest are stored.
 */
export async function ingestRecords(db: Db, inputs: RecordInput[], options: IngestOptions): Promise<IngestResult> {
  return ingestEvents(db, parseRecords(inputs, options.keepPayload === true), options);
}

/** Dedupe key, then time: the order of the events insert. */
function byDedupeKey(a: SesEvent, b: SesEvent): number {
  return a.dedupeKey < b.dedupeKey ? -1 : a.dedupeKey > b.dedupeKey ? 1 : a.timeMs - b.timeMs;
}

/** Parse records into events, keeping the malformed ones with their positions. */
export function parseRecords(inputs: RecordInput[], keepPayload = true): { events: SesEvent[]; malformed: Malformed[] } {
  const events: SesEvent[] = [];
  const malformed: Malformed[] = [];
  const now = Date.now();
  for (const input of inputs) {
    const parsed = parseSesRecord(input, now, keepPayload);
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
  // In key order: the events insert takes its keys in this order (storeAndApply), and a record
  // repeated within the input lands beside its twin, so it is dropped without a set of keys.
  let events: SesEvent[] = [];
  for (const e of parsed.events.slice().sort(byDedupeKey)) {
    const last = events[events.length - 1];
    if (last !== undefined && last.dedupeKey === e.dedupeKey && last.timeMs === e.timeMs) {
      result.duplicates += 1;
      continue;
    }
    events.push(e);
  }
  if (options.expectDuplicates && events.length > 0) {
    const stored = await withDbRetry(() => storedAlready(db, events));
    if (stored.size > 0) {
      result.duplicates += stored.size;
      events = events.filter((_, i) => !stored.has(i + 1));
    }
  }
  if (events.length === 0) return result;

  let refused = 0;
  const parts = await storeIsolatingRefused(
    events,
    (part) => withDbRetry(() => db.transaction().execute((trx) => storeAndApply(trx, part, options))),
    (e, err) => {
      refused += 1;
      result.problems.push({ position: `${e.type} event ${e.messageId ?? e.dedupeKey}`, reason: `refused by the database: ${(err as Error).message}` });
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
  result.duplicates += events.length - refused - result.ingested;
  return result;
}

/** The positions (from 1) of the events that email_events holds already. A read: no lock taken. */
async function storedAlready(db: Db, events: SesEvent[]): Promise<Set<number>> {
  const found = await db.transaction().execute(async (trx) => {
    // 2,000 index look-ups, which the planner might price above a scan of every stored event.
    await sql`SET LOCAL enable_seqscan = off`.execute(trx);
    return sql<{ i: number[] | null }>`/* prepared */
      SELECT array_agg(u.i::int) AS i
      FROM unnest(${sqlArray(events.map((e) => e.dedupeKey))}::text[], ${sqlArray(events.map((e) => e.iso))}::timestamptz[])
        WITH ORDINALITY AS u(k, t, i)
      WHERE EXISTS (SELECT 1 FROM email_events e WHERE e.dedupe_key = u.k AND e.time = u.t)`.execute(trx);
  });
  return new Set(found.rows[0]?.i ?? []);
}

interface Applied {
  ingested: number;
  unmatched: number;
  unknown: number;
  settled: number;
  suppressed: number;
}

async function storeAndApply(trx: Trx, events: SesEvent[], options: IngestOptions): Promise<Applied> {
  // Every statement below looks rows up by key. On a ledger of a few hundred thousand rows the
  // planner can price a (parallel) scan of all of deliveries below 2,000 index lookups, and did
  // in 22 to 114 of 150 batches of the ingest bench, each scan costing more than the batch.
  await sql`SET LOCAL enable_seqscan = off`.execute(trx);
  // In the events' order, which is key order (ingestEvents sorts them; a part of them split off
  // by storeIsolatingRefused keeps it). Inserted in key order, two ingesters whose batches share
  // events that match no delivery (so no ledger row orders them first) cannot each wait for the
  // other's insert of a shared key, a deadlock that cost both a retry.
  const matched = await matchLedger(trx, events);
  const col = (f: (m: Matched) => string | number | null) => sqlArray(matched.map(f));
  // One statement for the batch; the conflict target is the dedupe index (dedupe_key, time), so
  // a replay inserts nothing. Its row count says how many rows are new: when that is all or none
  // of the batch (a first ingest, a replay) that says which. Only a batch that is partly new asks
  // which of its events it inserted (insertedHere). Answering with the new rows' keys from the
  // insert itself (RETURNING in a CTE) made every batch keep and count its rows for the rare
  // partial one: 0.8–3.7 µs of Postgres CPU per event (docs/events.md).
  const inserted = await sql`/* prepared */
    INSERT INTO email_events (time, dedupe_key, event_type, campaign_id, delivery_id, message_id, recipient_hash, bounce_type, bounce_subtype, link, payload)
    SELECT t, k, ty, c, d, m, marketer_address_hash(r), bt, bs, l, p::jsonb
    FROM unnest(
      ${col((m) => m.event.iso)}::timestamptz[],
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
    ON CONFLICT (dedupe_key, time) DO NOTHING`.execute(trx);
  const n = Number(inserted.numAffectedRows ?? 0);
  const now = n === matched.length ? matched.slice() : n === 0 ? [] : await insertedHere(trx, matched);
  const applied: Applied = { ingested: now.length, unmatched: 0, unknown: 0, settled: 0, suppressed: 0 };
  if (now.length === 0) return applied;
  now.sort((a, b) => a.event.timeMs - b.event.timeMs);

  for (const m of now) {
    if (!m.event.known) applied.unknown += 1;
    if (!m.delivery) applied.unmatched += 1;
  }
  const links = await recordLinkClicks(trx, now);
  const ledger = await updateDeliveries(trx, now, options.topic);
  applied.settled = ledger.settled;

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
  await addRollups(trx, { events: eventCounts(now), links, waves: ledger.waves });
  return applied;
}

/** The batch's events per campaign, kind and 15-minute bucket. */
function eventCounts(events: Matched[]): EventCount[] {
  // Campaign, then kind, then bucket: no key built per event.
  const counts = new Map<number, Map<string, Map<number, EventCount>>>();
  const out: EventCount[] = [];
  for (const m of events) {
    const campaign = m.campaignId;
    if (campaign === undefined) continue;
    let byKind = counts.get(campaign);
    if (!byKind) counts.set(campaign, (byKind = new Map()));
    const kind = rollupKind(m.event);
    let byBucket = byKind.get(kind);
    if (!byBucket) byKind.set(kind, (byBucket = new Map()));
    const bucket = Math.floor(m.event.timeMs / BUCKET_MS) * BUCKET_MS;
    const entry = byBucket.get(bucket);
    if (entry) entry.events += 1;
    else {
      const added = { campaign, kind, bucket, events: 1 };
      byBucket.set(bucket, added);
      out.push(added);
    }
  }
  return out;
}

/**
 * The events of `matched` that this transaction inserted: their rows carry its transaction id
 * (the ingest transaction has no subtransactions). A row with the same key that another ingester
 * stored first carries that one's, so its event is a duplicate here.
 */
async function insertedHere(trx: Trx, matched: Matched[]): Promise<Matched[]> {
  const r = await sql<{ i: number[] | null }>`/* prepared */
    SELECT array_agg(u.i::int) AS i
    FROM unnest(${sqlArray(matched.map((m) => m.event.dedupeKey))}::text[], ${sqlArray(matched.map((m) => m.event.iso))}::timestamptz[])
      WITH ORDINALITY AS u(k, t, i)
    WHERE EXISTS (SELECT 1 FROM email_events e WHERE e.dedupe_key = u.k AND e.time = u.t AND e.xmin = pg_current_xact_id()::xid)`.execute(trx);
  const mine = new Set(r.rows[0]?.i ?? []);
  return matched.filter((_, i) => mine.has(i + 1));
}

/**
 * Record each delivery's first click on each link (delivery_link_clicks), and return the
 * batch's clicks and unique clicks per campaign and link for addRollups.
 */
async function recordLinkClicks(trx: Trx, events: Matched[]): Promise<LinkCount[]> {
  const clicks = events.filter((m) => m.event.click && m.campaignId !== undefined);
  if (clicks.length === 0) return [];
  const pairs = [...new Map(clicks.filter((m) => m.delivery).map((m) => [`${m.delivery!.id}\u0000${m.event.click!.link}`, m])).values()]
    .sort((a, b) => byId(a.delivery!.id, b.delivery!.id) || (a.event.click!.link < b.event.click!.link ? -1 : a.event.click!.link > b.event.click!.link ? 1 : 0));
  const firsts = new Set<string>();
  if (pairs.length > 0) {
    const r = await sql<{ delivery_id: string; link: string }>`/* prepared */
      INSERT INTO delivery_link_clicks (delivery_id, link)
      SELECT * FROM unnest(${sqlArray(pairs.map((m) => m.delivery!.id))}::bigint[], ${sqlArray(pairs.map((m) => m.event.click!.link))}::text[])
      ON CONFLICT DO NOTHING
      RETURNING delivery_id::text AS delivery_id, link`.execute(trx);
    for (const row of r.rows) firsts.add(`${row.delivery_id}\u0000${row.link}`);
  }
  const perLink = new Map<string, LinkCount>();
  for (const m of clicks) {
    const link = m.event.click!.link;
    const key = `${m.campaignId}\u0000${link}`;
    let entry = perLink.get(key);
    if (!entry) perLink.set(key, (entry = { campaign: m.campaignId!, link, clicks: 0, unique: 0 }));
    entry.clicks += 1;
    const pair = m.delivery ? `${m.delivery.id}\u0000${link}` : undefined;
    if (pair && firsts.delete(pair)) entry.unique += 1;
  }
  return [...perLink.values()];
}

/** Order of bigint ids given as strings, without BigInt: shorter is smaller, then by text. */
function byId(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
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
  // Whether the last batch to finish was mostly stored already: then the next ones likely are.
  let replaying = false;
  for await (const batch of batches) {
    if (failure) break;
    const index = seq++;
    const p: Promise<void> = ingestEvents(db, batch, { ...options, expectDuplicates: replaying }).then(
      (r) => {
        replaying = r.duplicates > r.ingested;
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
