import type { CompiledCampaign } from '../campaigns/index.js';
import type { ClaimedDelivery } from './ledger.js';
import type { OutgoingMessage } from './mailer.js';

/** One claimed row rendered into the message for its subscriber (throws on a render error). */
export function renderDelivery(compiled: CompiledCampaign, row: ClaimedDelivery): OutgoingMessage {
  const r = compiled.render({
    subscriberId: row.subscriber_id, email: row.email, first_name: row.first_name, last_name: row.last_name,
    timezone: row.timezone, attributes: row.attributes,
  });
  return {
    to: row.email, from: r.from, replyTo: r.replyTo, subject: r.subject, html: r.html, text: r.text, headers: r.headers,
    listManagement: r.listManagement, deliveryId: row.id, campaignId: row.campaign_id, transactional: compiled.campaign.transactional,
    tags: [{ name: 'campaign', value: String(row.campaign_id) }, { name: 'delivery', value: row.id }],
  };
}
