import { encodeWords, looksEncoded, MAX_ENCODED_WORD } from './encoded-word.js';
import { foldableTokens, foldHeader, HeaderError, LINE_LIMIT, LINE_TARGET } from './fold-header.js';

/**
 * Header fields as they go on the wire: free text (Subject), mailboxes (From, To, Reply-To)
 * and plain ASCII fields, each folded, with non-ASCII text as encoded-words. CR/LF never
 * reaches a header: a value holding one is refused, not encoded, since it means something
 * upstream let a line break through.
 */

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Text that must travel as encoded-words: not printable ASCII, or read as encoded-words already. */
function needsEncoding(text: string): boolean {
  return !PRINTABLE_ASCII.test(text) || looksEncoded(text);
}

export function refuseLineBreak(name: string, value: string): void {
  if (/[\r\n]/.test(name) || /[\r\n]/.test(value)) throw new HeaderError(`refusing a line break in the ${name} header`);
}

/** Room for the first encoded-word, which shares its line with `Name: `. */
function firstWidth(name: string): number {
  return LINE_TARGET - name.length - 2;
}

/** An unstructured field such as Subject: as it is when plain ASCII, else encoded-words. */
export function textField(name: string, text: string): string {
  refuseLineBreak(name, text);
  const tokens = foldableTokens(text);
  const plain = !needsEncoding(text) && tokens.every((t) => t.length + name.length + 2 <= LINE_LIMIT);
  return foldHeader(name, plain ? tokens : encodeWords(text, { first: firstWidth(name), rest: MAX_ENCODED_WORD }));
}

/** A field of ASCII tokens whose syntax must not change (Date, Message-ID, List-Unsubscribe). */
export function plainField(name: string, value: string): string {
  refuseLineBreak(name, value);
  if (!PRINTABLE_ASCII.test(name) || !PRINTABLE_ASCII.test(value)) throw new HeaderError(`the ${name} header must be printable ASCII`);
  return foldHeader(name, foldableTokens(value));
}

/** `From`, `To`, `Reply-To`: one or more mailboxes, comma-separated. */
export function mailboxField(name: string, mailboxes: readonly string[]): string {
  for (const m of mailboxes) refuseLineBreak(name, m);
  const width = firstWidth(name);
  const tokens = mailboxes.flatMap((m, i) => {
    const own = mailboxTokens(parseMailbox(m), width);
    if (i < mailboxes.length - 1) own[own.length - 1] += ',';
    return own;
  });
  return foldHeader(name, tokens);
}

/**
 * One mailbox on a single line, for APIs that build the header themselves (SES
 * `FromEmailAddress`, `ReplyToAddresses`): a non-ASCII display name must arrive as encoded-words.
 */
export function mailboxValue(mailbox: string): string {
  refuseLineBreak('address', mailbox);
  return mailboxTokens(parseMailbox(mailbox), Number.POSITIVE_INFINITY).join(' ');
}

/**
 * A subject for an API that encodes non-ASCII text itself (SES `Content.Simple`): only ASCII
 * that readers would decode needs encoding here; non-ASCII text is encoded whole by SES.
 */
export function subjectValue(text: string): string {
  refuseLineBreak('Subject', text);
  return PRINTABLE_ASCII.test(text) && looksEncoded(text) ? encodeWords(text).join(' ') : text;
}

interface Mailbox {
  name: string | undefined;
  address: string;
  angle: boolean;
}

/** `addr@domain`, `<addr@domain>`, `Name <addr@domain>` or `"Name" <addr@domain>`. */
export function parseMailbox(value: string): Mailbox {
  const m = /^\s*(.*?)\s*<([^<>]*)>\s*$/.exec(value);
  const address = (m ? m[2] : value)?.trim() ?? '';
  if (address === '' || /[\s<>\x00-\x1f\x7f]/.test(address)) throw new HeaderError(`"${value}" is not a mailbox`);
  if (!m) return { name: undefined, address, angle: false };
  const raw = m[1] ?? '';
  const quoted = /^"(.*)"$/.exec(raw);
  const name = quoted ? (quoted[1] ?? '').replace(/\\(.)/g, '$1') : raw;
  return { name: name === '' ? undefined : name, address, angle: true };
}

/**
 * A display name fits as one quoted-string when it is plain ASCII and short enough for its
 * line; anything else becomes encoded-words (which RFC 2047 §5(3) allows in a phrase, and which
 * can be folded between).
 */
function mailboxTokens(m: Mailbox, width: number): string[] {
  const address = m.angle ? `<${m.address}>` : m.address;
  if (m.name === undefined) return [address];
  const quoted = `"${m.name.replace(/(["\\])/g, '\\$1')}"`;
  if (!needsEncoding(m.name) && quoted.length <= width) return [quoted, address];
  return [...encodeWords(m.name, { first: width, rest: MAX_ENCODED_WORD }), address];
}
