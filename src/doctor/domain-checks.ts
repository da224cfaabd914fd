import { describeAwsError } from '../sending/aws-error.js';
import type { EmailIdentityInfo, SesSetupReader } from '../sending/ses-account.js';
import { identityCandidates } from '../sending/sender-domains.js';
import { readFailureFix } from './account-checks.js';
import type { DnsLookup } from './dns-lookup.js';
import { parseDmarc, type DmarcRecord } from './dmarc.js';
import type { DoctorCheck } from './types.js';

interface DomainContext {
  domain: string;
  /** The From addresses of this domain, from the campaigns and marketer.yaml. */
  addresses: string[];
  ses: SesSetupReader;
  dns: DnsLookup;
  region: string;
}

/** The domain's identity, or the verified parent domain that covers it. */
interface Covering {
  /** The identity whose DKIM and MAIL FROM apply: the verified one, else the domain's own. */
  identity: EmailIdentityInfo | undefined;
  verified: boolean;
}

/**
 * identity.verified, identity.dkim, dns.dkim, identity.mail_from, dns.spf, dns.dmarc and
 * dns.dmarc_alignment for one From domain, each carrying "domain".
 */
export async function domainChecks(c: DomainContext): Promise<DoctorCheck[]> {
  const tag = (check: Omit<DoctorCheck, 'domain'>): DoctorCheck => ({ ...check, domain: c.domain });
  let covering: Covering;
  try {
    covering = await findCovering(c.ses, c.domain);
  } catch (err) {
    const e = describeAwsError(err);
    const rest = ['identity.dkim', 'dns.dkim', 'identity.mail_from', 'dns.spf'].map((id) => tag({ id, status: 'warn', detail: 'not checked: the identity could not be read (see identity.verified)', fix: 'fix identity.verified first' }));
    const dmarc = await dmarcCheck(c);
    return [
      tag({ id: 'identity.verified', status: 'error', detail: `could not read the SES identity ${c.domain} (GetEmailIdentity): ${e.line}`, fix: readFailureFix(e.kind, 'ses:GetEmailIdentity') }),
      ...rest, tag(dmarc.check),
      tag({ id: 'dns.dmarc_alignment', status: 'warn', detail: 'not checked: the identity could not be read', fix: 'fix identity.verified first' }),
    ];
  }
  const verified = tag(await verifiedCheck(c, covering));
  const dkim = tag(dkimCheck(c, covering.identity));
  const dkimDns = tag(await dkimDnsCheck(c, covering.identity));
  const mailFrom = tag(await mailFromCheck(c, covering.identity));
  const spf = await spfCheck(c, covering.identity);
  const dmarc = await dmarcCheck(c);
  const alignment = tag(alignmentCheck(c, covering.identity, spf.ok && mailFrom.status === 'ok', dmarc.record));
  return [verified, dkim, dkimDns, mailFrom, tag(spf.check), tag(dmarc.check), alignment];
}

async function findCovering(ses: SesSetupReader, domain: string): Promise<Covering> {
  let own: EmailIdentityInfo | undefined;
  for (const name of identityCandidates(`x@${domain}`).slice(1)) {
    const info = await ses.identity(name);
    if (name === domain) own = info;
    if (info?.verifiedForSending) return { identity: info, verified: true };
  }
  return { identity: own, verified: false };
}

const verifyDomainFix = (domain: string) => `aws sesv2 create-email-identity --email-identity ${domain}, then publish the three DKIM CNAME records it returns (docs/aws-setup.md)`;

async function verifiedCheck(c: DomainContext, covering: Covering): Promise<Omit<DoctorCheck, 'domain'>> {
  const id = 'identity.verified';
  if (covering.verified) {
    const via = covering.identity!.name === c.domain ? '' : ` through the parent domain ${covering.identity!.name}`;
    return { id, status: 'ok', detail: `${c.domain} is verified for sending${via}`, fix: '' };
  }
  // Only the addresses verified: SES sends, but nothing signs for the domain.
  const addresses = await Promise.all(c.addresses.map(async (a) => ({ a, info: await c.ses.identity(a) })));
  if (addresses.length > 0 && addresses.every((x) => x.info?.verifiedForSending)) {
    return { id, status: 'warn', detail: `only the address${addresses.length === 1 ? '' : 'es'} ${c.addresses.join(', ')} ${addresses.length === 1 ? 'is' : 'are'} verified, not ${c.domain}: mail is not DKIM-signed for the domain`, fix: verifyDomainFix(c.domain) };
  }
  if (covering.identity) {
    return { id, status: 'error', detail: `the SES identity ${c.domain} is ${(covering.identity.verificationStatus ?? 'not verified').toLowerCase()}: SES refuses mail from it`, fix: `publish the DKIM CNAME records (see dns.dkim); SES verifies ${c.domain} once they resolve` };
  }
  return { id, status: 'error', detail: `SES has no identity for ${c.domain} or a parent domain: SES refuses mail from it`, fix: verifyDomainFix(c.domain) };
}

function dkimCheck(c: DomainContext, identity: EmailIdentityInfo | undefined): Omit<DoctorCheck, 'domain'> {
  const id = 'identity.dkim';
  const d = identity?.dkim;
  if (!identity || !d) return { id, status: 'error', detail: `no domain identity for ${c.domain}, so no DKIM signature`, fix: verifyDomainFix(c.domain) };
  if (!d.signingEnabled) return { id, status: 'error', detail: `DKIM signing is off for ${identity.name}`, fix: `aws sesv2 put-email-identity-dkim-attributes --email-identity ${identity.name} --signing-enabled` };
  if (d.status === 'SUCCESS') return { id, status: 'ok', detail: `Easy DKIM signs as ${identity.name} (status SUCCESS)`, fix: '' };
  if (d.status === 'PENDING') return { id, status: 'warn', detail: `DKIM for ${identity.name} is pending: SES has not seen the CNAME records yet (it looks for up to 72 hours)`, fix: 'publish the DKIM CNAME records (see dns.dkim) and wait' };
  return { id, status: 'error', detail: `DKIM for ${identity.name} is ${d.status ?? 'unknown'}: mail is not signed`, fix: `publish the DKIM CNAME records (see dns.dkim), then restart verification: aws sesv2 put-email-identity-dkim-signing-attributes --email-identity ${identity.name} --signing-attributes-origin AWS_SES` };
}

async function dkimDnsCheck(c: DomainContext, identity: EmailIdentityInfo | undefined): Promise<Omit<DoctorCheck, 'domain'>> {
  const id = 'dns.dkim';
  const d = identity?.dkim;
  if (!identity || !d) return { id, status: 'error', detail: `no domain identity for ${c.domain}, so no DKIM records to check`, fix: verifyDomainFix(c.domain) };
  if (d.origin === 'EXTERNAL') return { id, status: 'ok', detail: `${identity.name} signs with your own key (BYODKIM); its selector record is yours to keep`, fix: '' };
  if (d.tokens.length === 0) return { id, status: 'warn', detail: `SES lists no DKIM tokens for ${identity.name}`, fix: `aws sesv2 get-email-identity --email-identity ${identity.name}` };
  const problems: string[] = [];
  const fixes: string[] = [];
  let failed = 0;
  for (const token of d.tokens) {
    const name = `${token}._domainkey.${identity.name}`;
    const want = `${token}.dkim.amazonses.com`;
    const r = await c.dns.cname(name);
    if (r.kind === 'failed') {
      failed += 1;
      problems.push(`${name}: lookup failed (${r.error})`);
    } else if (r.kind === 'none') {
      problems.push(`${name} has no CNAME`);
      fixes.push(`CNAME ${name} → ${want}`);
    } else {
      const target = r.values[0]!.toLowerCase().replace(/\.$/, '');
      if (!new RegExp(`^${token.toLowerCase()}\\.dkim\\.([a-z0-9-]+\\.)?amazonses\\.com$`).test(target)) {
        problems.push(`${name} points at ${target}`);
        fixes.push(`CNAME ${name} → ${want}`);
      }
    }
  }
  if (problems.length === 0) return { id, status: 'ok', detail: `all ${d.tokens.length} DKIM CNAME records resolve to amazonses.com`, fix: '' };
  if (fixes.length === 0 && failed > 0) return { id, status: 'warn', detail: `could not look up: ${problems.join('; ')}`, fix: 'check the DNS servers (dns_servers in marketer.yaml, or the system resolver)' };
  return { id, status: 'error', detail: problems.join('; '), fix: `publish ${fixes.join('; ')}` };
}

async function mailFromCheck(c: DomainContext, identity: EmailIdentityInfo | undefined): Promise<Omit<DoctorCheck, 'domain'>> {
  const id = 'identity.mail_from';
  const suggested = `bounce.${c.domain}`;
  const setIt = `aws sesv2 put-email-identity-mail-from-attributes --email-identity ${identity?.name ?? c.domain} --mail-from-domain ${suggested} --behavior-on-mx-failure USE_DEFAULT_VALUE, then publish MX ${suggested} → 10 feedback-smtp.${c.region}.amazonses.com and TXT ${suggested} "v=spf1 include:amazonses.com ~all"`;
  const m = identity?.mailFrom;
  if (!m) return { id, status: 'warn', detail: 'no custom MAIL FROM domain: SPF passes for amazonses.com, which does not align with the From domain (DMARC then rests on DKIM alone)', fix: setIt };
  if (m.status === 'SUCCESS') return { id, status: 'ok', detail: `MAIL FROM ${m.domain} is verified`, fix: '' };
  const mx = await c.dns.mx(m.domain);
  const mxOk = mx.kind === 'found' && mx.values.some((v) => /^feedback-smtp\.[a-z0-9-]+\.amazonses\.com\.?$/i.test(v.exchange));
  const mxFix = mxOk ? '' : `publish MX ${m.domain} → 10 feedback-smtp.${c.region}.amazonses.com`;
  const mxDetail = mx.kind === 'failed' ? ` (its MX could not be looked up: ${mx.error})` : mxOk ? '' : ` (its MX record ${mx.kind === 'none' ? 'is missing' : 'does not point at SES'})`;
  if (m.status === 'PENDING') return { id, status: 'warn', detail: `MAIL FROM ${m.domain} is pending${mxDetail}`, fix: mxFix || 'wait: SES checks the MX record for up to 72 hours' };
  return { id, status: 'error', detail: `MAIL FROM ${m.domain} is ${m.status ?? 'not verified'}${mxDetail}: SES uses amazonses.com instead (or rejects, with REJECT_MESSAGE on MX failure)`, fix: mxFix || `check the MX record of ${m.domain}, then re-run the verification with put-email-identity-mail-from-attributes` };
}

async function spfCheck(c: DomainContext, identity: EmailIdentityInfo | undefined): Promise<{ check: Omit<DoctorCheck, 'domain'>; ok: boolean }> {
  const id = 'dns.spf';
  const m = identity?.mailFrom;
  if (!m) return { ok: false, check: { id, status: 'ok', detail: 'no custom MAIL FROM domain, so SPF is checked on amazonses.com (passes, but does not align: see identity.mail_from)', fix: '' } };
  const fix = `publish TXT ${m.domain} "v=spf1 include:amazonses.com ~all"`;
  const r = await c.dns.txt(m.domain);
  if (r.kind === 'failed') return { ok: false, check: { id, status: 'warn', detail: `could not look up TXT ${m.domain}: ${r.error}`, fix: 'check the DNS servers (dns_servers in marketer.yaml, or the system resolver)' } };
  const spf = r.kind === 'found' ? r.values.filter((v) => /^v=spf1(\s|$)/i.test(v.trim())) : [];
  if (spf.length === 0) return { ok: false, check: { id, status: 'error', detail: `no SPF record on the MAIL FROM domain ${m.domain}`, fix } };
  if (spf.length > 1) return { ok: false, check: { id, status: 'error', detail: `${spf.length} SPF records on ${m.domain}; receivers treat that as a permanent error`, fix: `merge them into one TXT record that includes include:amazonses.com` } };
  if (!/(^|\s)[+~?]?include:amazonses\.com(\s|$)/i.test(spf[0]!)) {
    return { ok: false, check: { id, status: 'error', detail: `the SPF record on ${m.domain} ("${spf[0]}") does not include amazonses.com`, fix: `add include:amazonses.com to it, e.g. "v=spf1 include:amazonses.com ~all"` } };
  }
  return { ok: true, check: { id, status: 'ok', detail: `${m.domain}: "${spf[0]}"`, fix: '' } };
}

async function dmarcCheck(c: DomainContext): Promise<{ check: Omit<DoctorCheck, 'domain'>; record: DmarcRecord | undefined }> {
  const id = 'dns.dmarc';
  const fix = `publish TXT _dmarc.${c.domain} "v=DMARC1; p=none; rua=mailto:dmarc@${c.domain}" (start at p=none, read the reports, then tighten to quarantine)`;
  // Receivers fall back to the organisational domain's record for a subdomain.
  for (const domain of identityCandidates(`x@${c.domain}`).slice(1)) {
    const name = `_dmarc.${domain}`;
    const r = await c.dns.txt(name);
    if (r.kind === 'failed') return { record: undefined, check: { id, status: 'warn', detail: `could not look up TXT ${name}: ${r.error}`, fix: 'check the DNS servers (dns_servers in marketer.yaml, or the system resolver)' } };
    const records = r.kind === 'found' ? r.values.filter((v) => /^v=DMARC1\s*(;|$)/i.test(v.trim())) : [];
    if (records.length === 0) continue;
    if (records.length > 1) return { record: undefined, check: { id, status: 'error', detail: `${records.length} DMARC records at ${name}: receivers ignore them all`, fix: 'keep exactly one v=DMARC1 record' } };
    const record = parseDmarc(records[0]!);
    const inherited = domain !== c.domain;
    const policy = inherited ? record.subdomainPolicy ?? record.policy : record.policy;
    if (!policy) return { record: undefined, check: { id, status: 'error', detail: `the DMARC record at ${name} has no policy (p=)`, fix: `add p=none (or quarantine, reject): "v=DMARC1; p=none; rua=mailto:dmarc@${domain}"` } };
    const where = inherited ? ` (from the parent domain's ${name})` : '';
    const advice = policy === 'none' ? ': monitoring only; move to p=quarantine once the reports show your mail passing' : '';
    return { record, check: { id, status: 'ok', detail: `policy ${policy}${where}${advice}`, fix: '' } };
  }
  return { record: undefined, check: { id, status: 'error', detail: `no DMARC record at _dmarc.${c.domain}: Gmail and Yahoo require one from bulk senders`, fix } };
}

/** One name is the other or under it: how relaxed alignment works out when both share the organisational domain. */
function related(a: string, b: string): boolean {
  return a === b || a.endsWith(`.${b}`) || b.endsWith(`.${a}`);
}

function alignmentCheck(c: DomainContext, identity: EmailIdentityInfo | undefined, spfPasses: boolean, dmarc: DmarcRecord | undefined): Omit<DoctorCheck, 'domain'> {
  const id = 'dns.dmarc_alignment';
  const strictDkim = dmarc?.adkim === 's';
  const strictSpf = dmarc?.aspf === 's';
  const signer = identity?.dkim?.signingEnabled && identity.dkim.status === 'SUCCESS' ? identity.name : undefined;
  const dkimAligned = signer !== undefined && (strictDkim ? signer === c.domain : related(signer, c.domain));
  const mailFrom = identity?.mailFrom?.domain;
  const spfAligned = spfPasses && mailFrom !== undefined && (strictSpf ? mailFrom === c.domain : related(mailFrom, c.domain));
  const dkimText = signer ? `DKIM signs as ${signer}${dkimAligned ? ', aligned' : `, not aligned${strictDkim ? ' (adkim=s)' : ''}`}` : 'no working DKIM signature';
  const spfText = mailFrom ? `SPF for MAIL FROM ${mailFrom}${spfAligned ? ', aligned' : spfPasses ? `, not aligned${strictSpf ? ' (aspf=s)' : ''}` : ' does not pass (see dns.spf, identity.mail_from)'}` : 'SPF only for amazonses.com, not aligned';
  const detail = `${dkimText}; ${spfText}`;
  if (dkimAligned || spfAligned) return { id, status: 'ok', detail, fix: '' };
  return { id, status: 'error', detail: `DMARC fails for ${c.domain}: ${detail}`, fix: `get Easy DKIM working for ${c.domain} (see identity.dkim), and/or a verified MAIL FROM under ${c.domain} (see identity.mail_from)` };
}
