import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Unsubscribe tokens: `<subscriberId>.<campaignId>.<mac>` where mac is the first 16 bytes of
 * HMAC-SHA256(secret, "unsub:v1:<subscriberId>:<campaignId>") in base64url. The address never
 * appears in the URL; ids alone are useless without a valid MAC.
 */
export interface UnsubscribeClaims {
  subscriberId: string;
  campaignId: number;
}

const MAC_BYTES = 16;

function mac(secret: string, subscriberId: string, campaignId: number): Buffer {
  return createHmac('sha256', secret).update(`unsub:v1:${subscriberId}:${campaignId}`).digest().subarray(0, MAC_BYTES);
}

export function signUnsubscribeToken(secret: string, claims: UnsubscribeClaims): string {
  return `${claims.subscriberId}.${claims.campaignId}.${mac(secret, claims.subscriberId, claims.campaignId).toString('base64url')}`;
}

/** The claims of a genuine token, or undefined for anything forged, altered or malformed. */
export function verifyUnsubscribeToken(secret: string, token: string): UnsubscribeClaims | undefined {
  // One spelling per token: ids without leading zeros (a zero-padded campaign id would sign
  // as the same number), and the MAC as base64url encodes it (22 characters carry 132 bits
  // for 128, so 16 spellings of the last one decode alike).
  const m = /^(0|[1-9]\d{0,18})\.(0|[1-9]\d{0,9})\.([A-Za-z0-9_-]{22})$/.exec(token);
  if (!m) return undefined;
  const [, subscriberId = '', campaign = '', given = ''] = m;
  const campaignId = Number(campaign);
  const expected = mac(secret, subscriberId, campaignId);
  const actual = Buffer.from(given, 'base64url');
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) return undefined;
  if (actual.toString('base64url') !== given) return undefined;
  return { subscriberId, campaignId };
}

/** The one-click URL for a recipient: `<base>/<token>`. */
export function unsubscribeUrl(baseUrl: string, secret: string, claims: UnsubscribeClaims): string {
  return `${baseUrl.replace(/\/+$/, '')}/${signUnsubscribeToken(secret, claims)}`;
}
