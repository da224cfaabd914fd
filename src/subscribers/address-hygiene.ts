import { createRequire } from 'node:module';
import { domainToASCII } from 'node:url';

/** Why an address cannot be imported, or undefined when it is usable. */
export type AddressProblem =
  | 'missing email'
  | 'malformed address'
  | 'address too long'
  | 'local part too long'
  | 'domain too long';

// RFC 5321 4.5.3.1: local part 64 octets, domain 255, and a path of 256 including the angle
// brackets, so 254 for the address itself.
const MAX_LOCAL = 64;
const MAX_DOMAIN = 255;
const MAX_ADDRESS = 254;

// The dot-atom of RFC 5322 (quoted local parts are legal but nobody signs up with one; mailbox
// providers and SES reject most of them anyway).
const LOCAL_RE = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/;
const LABEL_RE = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export interface CleanAddress {
  /** The address as it will be stored: local part as given, domain lower-cased and in ASCII. */
  email: string;
  domain: string;
  local: string;
}

/** Check and normalise one address. */
export function cleanAddress(raw: string): CleanAddress | AddressProblem {
  const trimmed = raw.trim().replace(/^mailto:/i, '');
  if (trimmed === '') return 'missing email';
  const at = trimmed.lastIndexOf('@');
  if (at <= 0 || at === trimmed.length - 1) return 'malformed address';
  const local = trimmed.slice(0, at);
  const rawDomain = trimmed.slice(at + 1).toLowerCase();
  if (Buffer.byteLength(local) > MAX_LOCAL) return 'local part too long';
  if (!LOCAL_RE.test(local)) return 'malformed address';
  // Internationalised domains are stored in their ASCII (punycode) form, as SES requires.
  const domain = /^[\x00-\x7f]*$/.test(rawDomain) ? rawDomain : domainToASCII(rawDomain);
  if (!domain) return 'malformed address';
  if (domain.length > MAX_DOMAIN) return 'domain too long';
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL_RE.test(l)) || /^\d+$/.test(labels[labels.length - 1] ?? '')) {
    return 'malformed address';
  }
  const email = `${local}@${domain}`;
  if (email.length > MAX_ADDRESS) return 'address too long';
  return { email, domain, local };
}

// Mailboxes that belong to a function, not a person (RFC 2142 and common practice): they rarely
// opted in, and complaints from them hurt sender reputation.
const ROLE_ACCOUNTS = new Set([
  'abuse', 'admin', 'administrator', 'billing', 'compliance', 'devnull', 'dns', 'ftp', 'hostmaster',
  'inoc', 'ispfeedback', 'ispsupport', 'list', 'list-request', 'mailer-daemon', 'maildaemon',
  'no-reply', 'noreply', 'noc', 'null', 'phish', 'phishing', 'postmaster', 'privacy', 'registrar',
  'root', 'security', 'spam', 'sysadmin', 'undisclosed-recipients', 'unsubscribe', 'usenet', 'uucp',
  'webmaster', 'www',
]);

export function isRoleAccount(local: string): boolean {
  return ROLE_ACCOUNTS.has(local.toLowerCase().split('+')[0] ?? '');
}

let disposable: Set<string> | undefined;

/** Throwaway-mailbox domains, from the community-maintained disposable-email-domains list. */
export function isDisposableDomain(domain: string): boolean {
  if (!disposable) {
    const require = createRequire(import.meta.url);
    disposable = new Set(require('disposable-email-domains') as string[]);
  }
  if (disposable.has(domain)) return true;
  const dot = domain.indexOf('.');
  // Subdomains of a disposable service (x.mailinator.com) are disposable too.
  return dot > 0 && disposable.has(domain.slice(dot + 1));
}
