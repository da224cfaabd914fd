import { hash } from 'node:crypto';
import { readEventTime, unstorableRecord } from './check-record.js';

/**
 * SES event records, typed at the edge. Two record formats reach us:
 * - event publishing (configuration set → SNS): `eventType`, `mail.tags` with our EmailTags;
 * - the older identity notifications: `notificationType` (Bounce, Complaint, Delivery), no tags.
 * Either may arrive inside an SNS envelope (`Type: "Notification"`, `Message` = the record as a
 * string) or raw (SNS raw message delivery, S3/Firehose exports).
 */

export const KNOWN_EVENT_TYPES = [
  'Send',
  'Delivery',
  'Bounce',
  'Complaint',
  'Open',
  'Click',
  'Reject',
  'Rendering Failure',
  'DeliveryDelay',
  'Subscription',
] as const;
export type KnownEventType = (typeof KNOWN_EVENT_TYPES)[number];

export type BounceType = 'Permanent' | 'Transient' | 'Undetermined';

export interface SesEvent {
  /** The SES name (`Rendering Failure` keeps its space), or an unknown type's own name. */
  type: string;
  known: boolean;
  /** The event's own time (not the send time, not the ingest time), in epoch milliseconds. */
  timeMs: number;
  /** The time as `Date#toISOString` writes it (SES's own text where it wrote it that way). */
  iso: string;
  /** `sns:<MessageId>` when an envelope gave one, else `sha256:<hash of the record>`. */
  dedupeKey: string;
  messageId: string | undefined;
  /** EmailTag `delivery=<deliveries.id>`, digits only. */
  deliveryTag: string | undefined;
  /** EmailTag `campaign=<id>`. */
  campaignTag: number | undefined;
  /** The address this event is about, as SES reported it (bounced/complained/destination). */
  recipient: string | undefined;
  bounce: { type: BounceType; subType: string } | undefined;
  click: { link: string } | undefined;
  /** A Subscription event whose new preferences opt out (all topics, or the topic we send to). */
  unsubscribeAll: boolean;
  optedOutTopics: readonly string[];
  /**
   * What is worth keeping of the record: the event's own object, or all of an unknown record.
   * Parsed without `keepPayload`, only what the ingest reads itself (a Reject's reason, a
   * Rendering Failure's message).
   */
  payload: Record<string, unknown> | undefined;
}

export interface RecordInput {
  /** Where the record came from, for messages: `file.jsonl:12`, `sqs:<id>`, `item 3`. */
  position: string;
  record: unknown;
  /** The SNS MessageId of the envelope that carried the record, stable across SNS retries. */
  snsMessageId: string | undefined;
  /** The text it was parsed from passed plainRecordText: the walk of unstorableRecord can be skipped. */
  plain?: boolean;
}

export interface Malformed {
  position: string;
  reason: string;
}

// Links beyond this many bytes are cut so that every key built from one fits a btree entry
// (2,704 bytes).
const MAX_LINK = 2000;
// An event type is a rollup key and a message id is matched against an index: both are short
// in SES (a 60-character id), and a longer one is not an SES record.
const MAX_TYPE = 64;
const MAX_ID = 256;
// SNS MessageIds are UUIDs; this one becomes the dedupe key.
const SNS_ID = /^[\x21-\x7e]{1,128}$/;

type Json = Record<string, unknown>;

// Shared by every event but Subscription: a batch in flight holds one array less per event.
const NO_TOPICS: readonly string[] = Object.freeze([]);

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/** The event's sub-object name in an event-publishing record. */
const EVENT_KEY: Record<KnownEventType, string> = {
  Send: 'send',
  Delivery: 'delivery',
  Bounce: 'bounce',
  Complaint: 'complaint',
  Open: 'open',
  Click: 'click',
  Reject: 'reject',
  'Rendering Failure': 'failure',
  DeliveryDelay: 'deliveryDelay',
  Subscription: 'subscription',
};

function isKnown(type: string): type is KnownEventType {
  return (KNOWN_EVENT_TYPES as readonly string[]).includes(type);
}

/**
 * Unwrap one JSON value into records: an array of them, an SNS envelope, or a record itself.
 * Anything else is reported as malformed with its position.
 */
export function unwrapRecords(value: unknown, position: string, snsMessageId?: string): { records: RecordInput[]; malformed: Malformed[] } {
  const records: RecordInput[] = [];
  const malformed: Malformed[] = [];
  const visit = (v: unknown, pos: string, sns: string | undefined, depth: number) => {
    if (Array.isArray(v) && depth === 0) {
      v.forEach((item, i) => visit(item, `${pos} item ${i + 1}`, sns, depth + 1));
      return;
    }
    if (!isObject(v)) {
      malformed.push({ position: pos, reason: `expected an SES event record or SNS envelope, got ${Array.isArray(v) ? 'an array' : v === null ? 'null' : typeof v}` });
      return;
    }
    if (typeof v.Message === 'string' && (v.Type === 'Notification' || v.TopicArn !== undefined)) {
      if (v.MessageId !== undefined && (typeof v.MessageId !== 'string' || !SNS_ID.test(v.MessageId))) {
        malformed.push({ position: pos, reason: 'SNS envelope whose MessageId is not an id' });
        return;
      }
      let inner: unknown;
      try {
        inner = JSON.parse(v.Message);
      } catch {
        malformed.push({ position: pos, reason: 'SNS envelope whose Message is not JSON' });
        return;
      }
      visit(inner, pos, str(v.MessageId) ?? sns, depth + 1);
      return;
    }
    records.push({ position: pos, record: v, snsMessageId: sns });
  };
  visit(value, position, snsMessageId, 0);
  return { records, malformed };
}

/** The event's own timestamp, else the mail's; a present but bad one is not skipped over. */
function eventTime(own: unknown, mailTime: unknown, now: number): { timeMs: number; iso: string } | string {
  const raw = own !== undefined ? own : mailTime;
  if (raw === undefined) return 'no timestamp';
  return readEventTime(raw, now);
}

/** At most `max` UTF-8 bytes of `s`, cut on a character boundary. */
function cutBytes(s: string, max: number): string {
  if (s.length * 3 <= max || Buffer.byteLength(s) <= max) return s;
  const cut = Buffer.from(s).subarray(0, max).toString('utf8');
  // A character cut in half decodes as U+FFFD: drop it.
  return cut.endsWith('\uFFFD') ? cut.slice(0, -1) : cut;
}

/** `"Ann" <ann@example.com>` → `ann@example.com`. */
export function bareAddress(v: string): string {
  // SES gives most recipients bare: no regular expression for them (0.5 µs of every event).
  if (!v.includes('<')) return v.trim();
  const m = /<([^<>]+)>\s*$/.exec(v);
  return (m ? m[1]! : v).trim();
}

function firstAddress(list: unknown, field?: string): string | undefined {
  if (!Array.isArray(list)) return undefined;
  const first: unknown = list[0];
  const raw = field ? (isObject(first) ? str(first[field]) : undefined) : str(first);
  return raw ? bareAddress(raw) : undefined;
}

/** The first string value of the EmailTag `name` (SES gives each tag as a list of values). */
function tag(mail: Json | undefined, name: string): string | undefined {
  const tags = mail?.tags;
  if (!isObject(tags)) return undefined;
  const values = tags[name];
  if (!Array.isArray(values)) return undefined;
  for (const v of values) if (typeof v === 'string') return v;
  return undefined;
}

// One call, no Hash object per record (crypto.hash is in Node 20.12 and later).
export function recordHash(record: unknown): string {
  return hash('sha256', JSON.stringify(record), 'hex');
}

/**
 * One record into a typed event, or the reason it cannot be one. `keepPayload: false` (the
 * ingest without `events_payload: full`) keeps only the payload the ingest reads itself, so that
 * a batch waiting for the database holds less.
 */
export function parseSesRecord(input: RecordInput, now = Date.now(), keepPayload = true): SesEvent | Malformed {
  const { record, position } = input;
  const bad = (reason: string): Malformed => ({ position, reason });
  if (!isObject(record)) return bad('not a JSON object');
  const unstorable = input.plain ? undefined : unstorableRecord(record);
  if (unstorable) return bad(unstorable);
  const type = str(record.eventType) ?? str(record.notificationType);
  if (!type) return bad('no eventType or notificationType');
  if (type.length > MAX_TYPE) return bad(`event type longer than ${MAX_TYPE} characters`);
  if (isObject(record.mail) && typeof record.mail.messageId === 'string' && record.mail.messageId.length > MAX_ID) {
    return bad(`mail.messageId longer than ${MAX_ID} characters`);
  }
  const known = isKnown(type);
  const mail = isObject(record.mail) ? record.mail : undefined;
  const dedupeKey = input.snsMessageId ? `sns:${input.snsMessageId}` : `sha256:${recordHash(record)}`;

  if (!known) {
    // Stored raw so that nothing SES adds later is lost; counted, never acted on.
    const sub = record[type.charAt(0).toLowerCase() + type.slice(1)];
    const at = eventTime(isObject(sub) ? sub.timestamp : undefined, mail?.timestamp, now);
    if (typeof at === 'string') return bad(`event type "${type}": ${at}`);
    return {
      type, known: false, timeMs: at.timeMs, iso: at.iso, dedupeKey,
      messageId: str(mail?.messageId),
      deliveryTag: digits(tag(mail, 'delivery')),
      campaignTag: campaignNumber(tag(mail, 'campaign')),
      recipient: mail ? firstAddress(mail.destination) : undefined,
      bounce: undefined, click: undefined, unsubscribeAll: false, optedOutTopics: NO_TOPICS,
      payload: keepPayload ? record : undefined,
    };
  }

  if (!mail) return bad(`${type} record has no "mail" object`);
  const messageId = str(mail.messageId);
  if (!messageId) return bad(`${type} record has no mail.messageId`);
  const body = record[EVENT_KEY[type]];
  const sub: Json = isObject(body) ? body : {};
  if (!isObject(body) && type !== 'Send') return bad(`${type} record has no "${EVENT_KEY[type]}" object`);
  const at = eventTime(sub.timestamp, mail.timestamp, now);
  if (typeof at === 'string') return bad(`${type} record: ${at}`);

  let recipient = firstAddress(mail.destination);
  let bounce: SesEvent['bounce'];
  let click: SesEvent['click'];
  let unsubscribeAll = false;
  let optedOutTopics: readonly string[] = NO_TOPICS;
  switch (type) {
    case 'Bounce': {
      const bt = str(sub.bounceType);
      if (bt !== 'Permanent' && bt !== 'Transient' && bt !== 'Undetermined') {
        return bad(`Bounce with bounceType ${JSON.stringify(sub.bounceType)} (expected Permanent, Transient or Undetermined)`);
      }
      bounce = { type: bt, subType: str(sub.bounceSubType) ?? 'Undetermined' };
      recipient = firstAddress(sub.bouncedRecipients, 'emailAddress') ?? recipient;
      break;
    }
    case 'Complaint':
      recipient = firstAddress(sub.complainedRecipients, 'emailAddress') ?? recipient;
      break;
    case 'Delivery':
      recipient = firstAddress(sub.recipients) ?? recipient;
      break;
    case 'DeliveryDelay':
      recipient = firstAddress(sub.delayedRecipients, 'emailAddress') ?? recipient;
      break;
    case 'Click': {
      const link = str(sub.link);
      if (!link) return bad('Click record has no click.link');
      click = { link: cutBytes(link, MAX_LINK) };
      break;
    }
    case 'Subscription': {
      const prefs = isObject(sub.newTopicPreferences) ? sub.newTopicPreferences : {};
      unsubscribeAll = prefs.unsubscribeAll === true;
      if (Array.isArray(prefs.topicSubscriptionStatus)) {
        const out: string[] = [];
        for (const t of prefs.topicSubscriptionStatus) {
          if (isObject(t) && t.subscriptionStatus === 'OptOut' && typeof t.topicName === 'string') out.push(t.topicName);
        }
        optedOutTopics = out;
      }
      break;
    }
    default:
      break;
  }
  return {
    type, known: true, timeMs: at.timeMs, iso: at.iso, dedupeKey, messageId,
    deliveryTag: digits(tag(mail, 'delivery')),
    campaignTag: campaignNumber(tag(mail, 'campaign')),
    recipient,
    bounce, click, unsubscribeAll, optedOutTopics,
    payload: keepPayload || type === 'Reject' || type === 'Rendering Failure' ? keptPayload(type, sub) : undefined,
  };
}

/**
 * What is stored of the event's own object. Opens and clicks (most of all events) keep nothing
 * beyond their columns: their IP address and user agent are personal data marketer never uses,
 * and not storing them halves the bytes written per event.
 */
function keptPayload(type: KnownEventType, sub: Json): Json | undefined {
  if (type === 'Open' || type === 'Send') return undefined;
  if (type === 'Click') return isObject(sub.linkTags) && Object.keys(sub.linkTags).length > 0 ? { linkTags: sub.linkTags } : undefined;
  return sub;
}

function digits(v: string | undefined): string | undefined {
  return v !== undefined && /^\d{1,18}$/.test(v) ? v : undefined;
}

function campaignNumber(v: string | undefined): number | undefined {
  if (v === undefined || !/^\d{1,9}$/.test(v)) return undefined;
  return Number(v);
}

export function isMalformed(v: SesEvent | Malformed): v is Malformed {
  return 'reason' in v;
}

/** Does this Subscription event take the person off our list? */
export function unsubscribes(event: SesEvent, topic: string | undefined): boolean {
  if (event.type !== 'Subscription') return false;
  if (event.unsubscribeAll) return true;
  return topic === undefined ? event.optedOutTopics.length > 0 : event.optedOutTopics.includes(topic);
}
