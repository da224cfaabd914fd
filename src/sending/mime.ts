import { randomUUID } from 'node:crypto';
import { mailboxField, plainField, textField } from './headers/header-fields.js';

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
 * preference). Headers are folded and encoded by headers/header-fields.ts, which also refuses
 * CR/LF again: values arrive free of it from rendering, but a header injection would be silent.
 */
export function buildMime(m: MimeInput): string {
  const boundary = `=_marketer_${randomUUID()}`;
  const headers = [
    mailboxField('From', [m.from]),
    mailboxField('To', [m.to]),
    ...(m.replyTo.length > 0 ? [mailboxField('Reply-To', m.replyTo)] : []),
    textField('Subject', m.subject),
    plainField('Date', m.date.toUTCString().replace('GMT', '+0000')),
    plainField('Message-ID', `<${m.messageId}>`),
    plainField('MIME-Version', '1.0'),
    ...m.headers.map((h) => plainField(h.name, h.value)),
    plainField('Content-Type', `multipart/alternative; boundary="${boundary}"`),
  ];
  return [
    ...headers,
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
