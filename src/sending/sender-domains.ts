/** The address inside a From header value: `jane@example.com` from `"Jane" <jane@example.com>`. */
export function bareAddress(from: string): string {
  const m = /<([^<>]+)>\s*$/.exec(from);
  return (m ? m[1]! : from).trim().toLowerCase();
}

/** The domain of a From header value, lower-cased. */
export function fromDomain(from: string): string {
  const address = bareAddress(from);
  return address.slice(address.lastIndexOf('@') + 1);
}

/**
 * What SES accepts as covering an address, most specific first: the address itself, its domain,
 * then each parent domain (a verified example.com lets news.example.com send), down to two labels.
 */
export function identityCandidates(address: string): string[] {
  const domain = address.slice(address.lastIndexOf('@') + 1);
  const labels = domain.split('.');
  const out = [address];
  for (let i = 0; i <= labels.length - 2; i += 1) out.push(labels.slice(i).join('.'));
  return out;
}

export interface SenderCampaign {
  id: number;
  from: string;
  transactional: boolean;
}

export interface SharedDomain {
  domain: string;
  marketing: number[];
  transactional: number[];
}

/**
 * From domains that both marketing and transactional campaigns send from. Mailbox providers keep
 * reputation per domain, so complaints about a newsletter would slow the receipts.
 */
export function sharedSenderDomains(campaigns: SenderCampaign[]): SharedDomain[] {
  const byDomain = new Map<string, SharedDomain>();
  for (const c of campaigns) {
    const domain = fromDomain(c.from);
    const entry = byDomain.get(domain) ?? { domain, marketing: [], transactional: [] };
    const list = c.transactional ? entry.transactional : entry.marketing;
    if (!list.includes(c.id)) list.push(c.id);
    byDomain.set(domain, entry);
  }
  return [...byDomain.values()]
    .filter((d) => d.marketing.length > 0 && d.transactional.length > 0)
    .map((d) => ({ ...d, marketing: d.marketing.sort((a, b) => a - b), transactional: d.transactional.sort((a, b) => a - b) }));
}
