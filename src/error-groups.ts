/**
 * Failed deliveries, grouped by what went wrong. A run in which SES refused every message must
 * say why in one line ("10 failed: MessageRejected: Email address is not verified …"), not a
 * line per recipient: so errors are grouped by a normalised text in which nothing personal to
 * one recipient is left. SES names the addresses it refused inside the message (in the sandbox,
 * "The following identities failed the check in region US-EAST-1: ann@example.net"); those
 * become `<address>`, which both keeps addresses (personal data) out of reports and logs and
 * makes the same refusal of ten people one group.
 */
export interface ErrorGroup {
  error: string;
  count: number;
}

// Local part and domain without the characters that delimit an address in prose or headers.
// One spelling for JavaScript and for Postgres's regexp_replace (reports mask addresses in SQL).
const NOT_DELIMITER = String.raw`[^\s<>()\[\]{},;:"'${'`'}]`;
export const ADDRESS_PATTERN = `${NOT_DELIMITER}+@${NOT_DELIMITER}+`;
const ADDRESS = new RegExp(ADDRESS_PATTERN, 'gu');
// "MessageRejected (HTTP 400): …": the status says nothing the error name does not.
const HTTP_STATUS = /^([A-Za-z][\w.]*) \(HTTP \d{3}\):/;
const MAX_LENGTH = 300;

/** The error as stored and grouped: no addresses, no status code, one line, at most 300 characters. */
export function normaliseError(error: string): string {
  const text = error.replace(ADDRESS, (m) => (m.endsWith('.') ? '<address>.' : '<address>')).replace(/\s+/g, ' ').trim().replace(HTTP_STATUS, '$1:');
  return text.length > MAX_LENGTH ? `${text.slice(0, MAX_LENGTH - 1)}…` : text;
}

/** Groups with the same normalised text merged, most frequent first (then alphabetical). */
export function groupErrors(rows: Iterable<{ error: string | null; count: number }>): ErrorGroup[] {
  const groups = new Map<string, number>();
  for (const r of rows) {
    const key = normaliseError(r.error ?? 'no error recorded');
    groups.set(key, (groups.get(key) ?? 0) + r.count);
  }
  return [...groups].map(([error, count]) => ({ error, count })).sort((a, b) => b.count - a.count || (a.error < b.error ? -1 : a.error > b.error ? 1 : 0));
}
