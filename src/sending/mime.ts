import { randomUUID } from 'node:crypto';

/** RFC 2047 encoded-word for a header value that is not plain ASCII. */
export function encodeHeaderValue(value: string): string {
  if (/^[\x20-\x7e]*$/.test(value)) return value;
  return `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** A display-name address with the name encoded when needed: `Jane <jane@example.com>`. */
export function encodeAddress(address: string): string {
  const m = /^\s*(.*?)\s*<([^>]+)>\s*$/.exec(address);
  if (!m) return address.trim();
  const name = (m[1] ?? '').replace(/^"(.*)"$/, '$1');
  if (name === '') return `<${m[2]}>`;
  const encoded = /^[\x20-\x7e]*$/.test(name) ? `"${name.replace(/(["\\])/g, '\\$1')}"` : encodeHeaderValue(name);
  return `${encoded} <${m[2]}>`;
}

function base64Body(text: string): string {
  return (Buffer.from(text, 'utf8').toString('base64').match(/.{1,76}/g) ?? []).join('\r\n');
}

export interface MimeInput {
  from: string;
  to: string;
  replyTo: string[];
  subject: string;
  html: string;
  text: string;
  headers: { name: string; value: string }[];
  messageId: string;
  date: Date;
}

/**
 * A multipart/alternative message (text first, then HTML, as RFC 2046 orders them by
 * preference). Header values arrive CR/LF-free from rendering; they are checked again here
 * because a header injection would be silent.
 */
export function buildMime(m: MimeInput): string {
  const boundary = `=_marketer_${randomUUID()}`;
  const headers: [string, string][] = [
    ['From', encodeAddress(m.from)],
    ['To', encodeAddress(m.to)],
    ...(m.replyTo.length > 0 ? [['Reply-To', m.replyTo.map(encodeAddress).join(', ')] as [string, string]] : []),
    ['Subject', encodeHeaderValue(m.subject)],
    ['Date', m.date.toUTCString().replace('GMT', '+0000')],
    ['Message-ID', `<${m.messageId}>`],
    ['MIME-Version', '1.0'],
    ...m.headers.map((h) => [h.name, h.value] as [string, string]),
    ['Content-Type', `multipart/alternative; boundary="${boundary}"`],
  ];
  for (const [name, value] of headers) {
    if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new Error(`refusing a line break in the ${name} header`);
  }
  return [
    ...headers.map(([k, v]) => `${k}: ${v}`),
    '',
    `--${boundary}`,
    'Content-Type: text/plain; charset=UTF-8',
    'Content-Transfer-Encoding: base64',
    '',
    base64Body(m.text),
    `--${boundary}`,
    'Content-Type: text/html; charset=UTF-8',
    'Content-Transfer-Encoding: base64',
    '',
    base64Body(m.html),
    `--${boundary}--`,
    '',
  ].join('\r\n');
}
