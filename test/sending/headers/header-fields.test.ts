import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HeaderError } from '../../../src/sending/headers/fold-header.js';
import { mailboxField, mailboxValue, plainField, subjectValue, textField } from '../../../src/sending/headers/header-fields.js';
import { parseWithPython, pythonPath, type ParsedMessage } from '../../helpers/python-email.js';

const python = pythonPath();
if (!python) console.warn('NOTICE: no python3 with its email package (apt-get install python3): header fields are not checked against Python\'s parser.');

const dir = mkdtempSync(path.join(tmpdir(), 'marketer-headers-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;

/** Minimal messages around each set of `headers`, parsed in one run of Python's email package under policy.strict. */
async function parse(messages: string[][]): Promise<ParsedMessage[]> {
  const files = messages.map((headers) => {
    const file = path.join(dir, `${n++}.eml`);
    writeFileSync(file, [...headers, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=UTF-8', '', 'body', ''].join('\r\n'));
    return file;
  });
  return parseWithPython(python!, files);
}

/** RFC 5322 unfolding: remove each CRLF that precedes white space. */
const unfold = (field: string) => field.replace(/\r\n(?=[ \t])/g, '');

const SUBJECTS: Record<string, string> = {
  '400 × ü': 'ü'.repeat(400),
  'long ASCII': 'Our spring sale starts today and runs for the whole of next week, with twenty percent off everything in the shop',
  'ASCII with runs of spaces': `${'Big  news   from     the team '.repeat(6)}end`,
  'encoded-word look-alike': 'Hi =?utf-8?q?Ada?=, your order',
  'look-alike glued to a word': 'x=?utf-8?B?aGk=?=y',
  'emoji and accents': `Grüße 👩‍👩‍👧‍👦 ${'Ünïcödé '.repeat(30)}`,
  'a word of 1,500 letters': 'a'.repeat(1500),
};

const NAMES: Record<string, string> = {
  '1,200 characters': `${'Zoë Ångström-Łukasiewicz 東京 '.repeat(44)}`.slice(0, 1200),
  'long ASCII with quotes and backslashes': 'The "Very Long" Name\\Of A Company That Sends A Newsletter Every Week Of The Year',
  'ASCII specials': 'Smith, Jane (Sales); "J"',
  'encoded-word look-alike': '=?utf-8?q?Mallory?=',
  'short': 'Jane',
};

describe('header fields', () => {
  it.skipIf(!python)('subjects parse under policy.strict with no defects, lines within 76 octets, and decode to the text', async () => {
    const cases = Object.entries(SUBJECTS).map(([label, subject]) => ({ label, subject, field: textField('Subject', subject) }));
    const parsed = await parse(cases.map((c) => [c.field]));
    cases.forEach(({ label, subject, field }, i) => {
      const m = parsed[i]!;
      expect(m.error, label).toBeUndefined();
      expect(m.defects, label).toEqual([]);
      expect(m.headers.subject?.[0]?.value, label).toBe(subject);
      for (const line of field.split('\r\n')) expect(Buffer.byteLength(line), label).toBeLessThanOrEqual(76);
    });
  });

  it('leaves plain ASCII as it is, folded only at spaces', () => {
    const subject = SUBJECTS['long ASCII']!;
    const field = textField('Subject', subject);
    expect(field).toContain('\r\n ');
    expect(unfold(field)).toBe(`Subject: ${subject}`);
    for (const line of field.split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
    const spaced = textField('Subject', SUBJECTS['ASCII with runs of spaces']!);
    expect(unfold(spaced)).toBe(`Subject: ${SUBJECTS['ASCII with runs of spaces']}`);
    for (const line of spaced.split('\r\n').slice(1)) expect(line).toMatch(/^ +\S/);
  });

  it('encodes text that reads as encoded-words instead of passing it through', () => {
    const field = textField('Subject', 'Hi =?utf-8?q?Ada?=, your order');
    expect(field).not.toContain('=?utf-8?q?Ada?=');
    expect(field).toMatch(/^Subject: =\?UTF-8\?[QB]\?/);
  });

  it.skipIf(!python)('display names parse under policy.strict with no defects and round-trip exactly', async () => {
    const cases = Object.entries(NAMES).map(([label, name]) => ({ label, name, field: mailboxField('From', [`"${name.replace(/(["\\])/g, '\\$1')}" <news@example.com>`]) }));
    const parsed = await parse(cases.map((c) => [c.field, 'To: ada@example.com']));
    cases.forEach(({ label, name, field }, i) => {
      const m = parsed[i]!;
      expect(m.error, label).toBeUndefined();
      expect(m.defects, label).toEqual([]);
      expect(m.headers.from?.[0]?.addresses, label).toEqual([{ display_name: name, addr_spec: 'news@example.com' }]);
      for (const line of field.split('\r\n')) expect(Buffer.byteLength(line), label).toBeLessThanOrEqual(76);
    });
  });

  it.skipIf(!python)('a list of mailboxes keeps each name with its address', async () => {
    const list = [`"${NAMES['1,200 characters']}" <a@example.com>`, 'Jane <jane@example.com>', 'bare@example.com', '<angle@example.com>', '"Smith, J" <j@example.com>'];
    const field = mailboxField('Reply-To', list);
    const [m] = await parse([['From: news@example.com', field]]);
    expect(m!.error).toBeUndefined();
    expect(m!.defects).toEqual([]);
    expect(m!.headers['reply-to']?.[0]?.addresses).toEqual([
      { display_name: NAMES['1,200 characters'], addr_spec: 'a@example.com' },
      { display_name: 'Jane', addr_spec: 'jane@example.com' },
      { display_name: '', addr_spec: 'bare@example.com' },
      { display_name: '', addr_spec: 'angle@example.com' },
      { display_name: 'Smith, J', addr_spec: 'j@example.com' },
    ]);
    for (const line of field.split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
  });

  it.skipIf(!python)('a mailbox for SES is one line of ASCII that decodes to the display name', async () => {
    const cases = Object.entries(NAMES).map(([label, name]) => ({ label, name, value: mailboxValue(`"${name.replace(/(["\\])/g, '\\$1')}" <news@example.com>`) }));
    // Folded at its spaces only to keep Python's parser within the line limit; the value is as SES gets it.
    const parsed = await parse(cases.map((c) => [`From: ${c.value.replace(/ /g, '\r\n ')}`]));
    cases.forEach(({ label, name, value }, i) => {
      expect(value, label).toMatch(/^[\x20-\x7e]+$/);
      expect(value.split(' ').every((part) => part.length <= 75 || part === '<news@example.com>' || part.startsWith('"')), label).toBe(true);
      expect(parsed[i]!.defects, label).toEqual([]);
      expect(parsed[i]!.headers.from?.[0]?.addresses, label).toEqual([{ display_name: name, addr_spec: 'news@example.com' }]);
    });
    expect(mailboxValue('Test Sender <news@example.com>')).toBe('"Test Sender" <news@example.com>');
    expect(mailboxValue('news@example.com')).toBe('news@example.com');
  });

  it.skipIf(!python)('a subject for SES is left to SES unless it reads as encoded-words', async () => {
    expect(subjectValue('Grüße')).toBe('Grüße');
    expect(subjectValue('Plain news')).toBe('Plain news');
    const literal = 'Hi =?utf-8?q?Ada?=';
    const value = subjectValue(literal);
    expect(value).not.toContain('=?utf-8?q?Ada?=');
    const [m] = await parse([[`Subject: ${value}`]]);
    expect(m!.defects).toEqual([]);
    expect(m!.headers.subject?.[0]?.value).toBe(literal);
  });

  it('refuses CR or LF in any header, in names, values and addresses alike', () => {
    const attempts = [
      () => textField('Subject', 'Hi\r\nBcc: victim@example.com'),
      () => textField('Subject', 'Hi\nBcc: victim@example.com'),
      () => textField('Subject', 'Grüße\rBcc: victim@example.com'),
      () => mailboxField('From', ['"Jane\r\nBcc: x@example.com" <jane@example.com>']),
      () => mailboxField('To', ['jane@example.com\r\nBcc: x@example.com']),
      () => plainField('List-Unsubscribe', '<https://example.com/u>\nBcc: x@example.com'),
      () => plainField('X-Bad\r\nBcc', 'x'),
      () => mailboxValue('Jane <jane@example.com>\r\nBcc: x@example.com'),
      () => subjectValue('Hi\r\nBcc: x@example.com'),
    ];
    for (const attempt of attempts) expect(attempt).toThrow(/line break/);
  });

  it('refuses what it cannot write as a header rather than writing it wrong', () => {
    expect(() => plainField('List-Unsubscribe', '<https://exämple.com/u>')).toThrow(HeaderError);
    expect(() => plainField('Bad Name', 'x')).toThrow(/not a header field name/);
    expect(() => plainField('X-Long', `<https://example.com/${'a'.repeat(1000)}>`)).toThrow(/998/);
    expect(() => mailboxField('To', ['Jane <jane @example.com>'])).toThrow(/not a mailbox/);
  });

  it('folds a long structured field at its spaces, never inside a token', () => {
    const field = plainField('Content-Type', `multipart/alternative; boundary="=_marketer_${'0'.repeat(36)}"`);
    expect(field.split('\r\n')).toEqual(['Content-Type: multipart/alternative;', ` boundary="=_marketer_${'0'.repeat(36)}"`]);
  });
});
