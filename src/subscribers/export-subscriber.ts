import { sql, type Kysely } from 'kysely';
import type { Database } from '../db/types.js';

/**
 * Everything marketer holds about one address, as one document: the answer to a data-subject
 * access request (GDPR art. 15). The same queries find what `forget` erases, so an export taken
 * after an erasure shows what is left: nothing but the suppression.
 */

export interface ExportedSubscriber {
  id: string;
  email: string;
  first_name: string | null;
  last_name: string | null;
  timezone: string;
  status: string;
  tags: string[];
  attributes: Record<string, unknown>;
  consent: { source: string | null; at: string | null; ip: string | null; text: string | null };
  soft_bounces: number;
  created_at: string;
  updated_at: string;
}

export interface ExportedDelivery {
  campaign_id: number;
  campaign_name: string | null;
  status: string;
  wave_timezone: string;
  due_at: string;
  sent_at: string | null;
  delivered_at: string | null;
  opened_at: string | null;
  clicked_at: string | null;
  bounced_at: string | null;
  complained_at: string | null;
  unsubscribed_at: string | null;
  attempts: number;
  error: string | null;
}

export interface ExportedEvent {
  time: string;
  type: string;
  campaign_id: number | null;
  bounce_type: string | null;
  bounce_subtype: string | null;
  link: string | null;
  payload: Record<string, unknown> | null;
}

export interface SubscriberExport {
  address: string;
  exported_at: string;
  /** null: no subscriber with this address (never imported, or forgotten). */
  subscriber: ExportedSubscriber | null;
  /** The address is on the suppression list (kept as a keyed hash, never the address). */
  suppression: { reason: string; detail: string | null; since: string } | null;
  deliveries: ExportedDelivery[];
  events: ExportedEvent[];
}

type Db = Kysely<Database>;

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

export async function exportSubscriber(db: Db, address: string, now = new Date()): Promise<SubscriberExport> {
  const email = address.trim().toLowerCase();
  const sub = await sql<{
    id: string; email: string; first_name: string | null; last_name: string | null; timezone: string; status: string;
    tags: string[]; attributes: Record<string, unknown>; source: string | null; consent_at: Date | null; consent_ip: string | null;
    consent_text: string | null; soft_bounces: number; created_at: Date; updated_at: Date;
  }>`SELECT id::text AS id, email, first_name, last_name, timezone, status, tags, attributes, source, consent_at, consent_ip,
            consent_text, soft_bounces, created_at, updated_at
     FROM subscribers WHERE lower(email) = ${email} AND status <> 'forgotten'`.execute(db);
  const s = sub.rows[0];
  const suppression = await sql<{ reason: string; detail: string | null; created_at: Date }>`
    SELECT reason, detail, created_at FROM suppressions
    WHERE email_hash IN (marketer_address_hash(${email}), marketer_address_hash_previous(${email}))
    ORDER BY created_at LIMIT 1`.execute(db);
  const deliveries = s
    ? (await sql<{
        id: string; campaign_id: number; campaign_name: string | null; status: string; timezone: string; due_at: Date; sent_at: Date | null;
        delivered_at: Date | null; opened_at: Date | null; clicked_at: Date | null; bounced_at: Date | null; complained_at: Date | null;
        unsubscribed_at: Date | null; attempts: number; error: string | null;
      }>`SELECT d.id::text AS id, d.campaign_id, c.name AS campaign_name, d.status, d.timezone, d.due_at, d.sent_at, d.delivered_at,
                d.opened_at, d.clicked_at, d.bounced_at, d.complained_at, d.unsubscribed_at, d.attempts, d.error
         FROM deliveries d LEFT JOIN campaigns c ON c.id = d.campaign_id
         WHERE d.subscriber_id = ${s.id}::bigint ORDER BY d.due_at, d.campaign_id`.execute(db)).rows
    : [];
  const deliveryIds = deliveries.map((d) => d.id);
  const campaigns = [...new Set(deliveries.map((d) => d.campaign_id))];
  const events = await sql<{
    time: Date; event_type: string; campaign_id: number | null; bounce_type: string | null; bounce_subtype: string | null;
    link: string | null; payload: Record<string, unknown> | null;
  }>`SELECT time, event_type, campaign_id, bounce_type, bounce_subtype, link, payload FROM email_events
     WHERE campaign_id = ANY(${campaigns}::int[]) AND delivery_id = ANY(${deliveryIds}::bigint[])
     UNION ALL
     SELECT time, event_type, campaign_id, bounce_type, bounce_subtype, link, payload FROM email_events
     WHERE delivery_id IS NULL
       AND recipient_hash IN (marketer_address_hash(${email}), marketer_address_hash_previous(${email}))
     ORDER BY time`.execute(db);
  const p = suppression.rows[0];
  return {
    address: email,
    exported_at: now.toISOString(),
    subscriber: s
      ? {
          id: s.id, email: s.email, first_name: s.first_name, last_name: s.last_name, timezone: s.timezone, status: s.status,
          tags: s.tags, attributes: s.attributes,
          consent: { source: s.source, at: iso(s.consent_at), ip: s.consent_ip, text: s.consent_text },
          soft_bounces: s.soft_bounces, created_at: iso(s.created_at)!, updated_at: iso(s.updated_at)!,
        }
      : null,
    suppression: p ? { reason: p.reason, detail: p.detail, since: iso(p.created_at)! } : null,
    deliveries: deliveries.map((d) => ({
      campaign_id: d.campaign_id, campaign_name: d.campaign_name, status: d.status, wave_timezone: d.timezone, due_at: iso(d.due_at)!,
      sent_at: iso(d.sent_at), delivered_at: iso(d.delivered_at), opened_at: iso(d.opened_at), clicked_at: iso(d.clicked_at),
      bounced_at: iso(d.bounced_at), complained_at: iso(d.complained_at), unsubscribed_at: iso(d.unsubscribed_at),
      attempts: d.attempts, error: d.error,
    })),
    events: events.rows.map((e) => ({
      time: iso(e.time)!, type: e.event_type, campaign_id: e.campaign_id, bounce_type: e.bounce_type, bounce_subtype: e.bounce_subtype,
      link: e.link, payload: e.payload,
    })),
  };
}
