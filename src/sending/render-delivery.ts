import type { CompiledCampaign } from '../campaigns/index.js';
import type { ClaimedDelivery } from './ledger.js';
import type { OutgoingMessage } from './mailer.js';

/** One claimed row rendered into the message for its subscriber (throws on a render error). */
export function renderDelivery(campaign: CompiledCampaign, row: ClaimedDelivery): OutgoingMessage {
  const compiled = forVariant(campaign, row);
  const r = compiled.render({
    subscriberId: row.subscriber_id, email: row.email, first_name: row.first_name, last_name: row.last_name,
    timezone: row.timezone, attributes: row.attributes,
  });
  return {
    to: row.email, from: r.from, replyTo: r.replyTo, subject: r.subject, html: r.html, text: r.text, headers: r.headers,
    listManagement: r.listManagement, deliveryId: row.id, campaignId: row.campaign_id, transactional: compiled.campaign.transactional,
    tags: [
      { name: 'campaign', value: String(row.campaign_id) }, { name: 'delivery', value: row.id },
      ...(row.variant === null ? [] : [{ name: 'variant', value: row.variant }]),
    ],
  };
}

/**
 * The compiled variant the row records. A row without one was enqueued before the campaign had
 * a test (the claim never hands out a test's rest before its winner is written): it gets the
 * campaign as it is without variants.
 */
function forVariant(campaign: CompiledCampaign, row: ClaimedDelivery): CompiledCampaign {
  if (!campaign.variants || row.variant === null) return campaign;
  const v = campaign.variants.get(row.variant);
  // Never guess: sending another variant than the one recorded could mail a person both.
  if (!v) throw new Error(`the campaign has no variant "${row.variant}" (the one this delivery records)`);
  return v;
}
