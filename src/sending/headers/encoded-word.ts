/**
 * RFC 2047 encoded-words in UTF-8: how non-ASCII text (and ASCII that a mail reader would
 * otherwise decode, such as a literal "=?utf-8?q?…?=") travels in a header.
 */

/** RFC 2047 §2: an encoded-word is at most 75 characters long. */
export const MAX_ENCODED_WORD = 75;
/** `=?UTF-8?Q?` + `?=`. */
const OVERHEAD = 12;
/** Room for one 4-byte code point in Q (12 characters) beside the overhead. */
const MIN_WIDTH = OVERHEAD + 12;

type Encoding = 'Q' | 'B';

/** Widths in characters: the first word may have less room (it shares a line with the field name). */
export interface WordWidths {
  first: number;
  rest: number;
}

/**
 * `text` as encoded-words, each within its width and at most 75 characters. Words end on
 * grapheme boundaries (a letter with its accents, an emoji with its modifiers stay whole); only a
 * grapheme too long for a word on its own is cut, and then between code points, never inside one.
 * Decoded and joined (readers drop the spaces between adjacent encoded-words) they give `text`.
 */
export function encodeWords(text: string, widths: WordWidths = { first: MAX_ENCODED_WORD, rest: MAX_ENCODED_WORD }): string[] {
  const encoding = pickEncoding(text);
  const width = (n: number) => Math.max(MIN_WIDTH, Math.min(MAX_ENCODED_WORD, n === 0 ? widths.first : widths.rest));
  const words: string[] = [];
  let current: Uint8Array[] = [];
  const fits = (extra: Uint8Array[]) => encodedLength(encoding, [...current, ...extra]) + OVERHEAD <= width(words.length);
  const close = () => {
    if (current.length === 0) return;
    words.push(wrap(encoding, current));
    current = [];
  };
  for (const unit of graphemes(text)) {
    const bytes = utf8(unit);
    if (!fits([bytes])) close();
    if (fits([bytes])) {
      current.push(bytes);
      continue;
    }
    // A grapheme longer than a whole word (a long run of combining marks): cut between code points.
    for (const codePoint of unit) {
      const cp = utf8(codePoint);
      if (!fits([cp])) close();
      current.push(cp);
    }
  }
  close();
  return words;
}

/** Whether `text` holds something a reader would decode as an encoded-word. */
export function looksEncoded(text: string): boolean {
  return text.includes('=?');
}

// RFC 2047 §5(3): in a phrase, Q leaves only letters, digits and !*+-/ as they are. That set is
// safe in every header, so one rule serves display names and subjects alike.
const Q_LITERAL = /[A-Za-z0-9!*+\-/]/;

function qByte(b: number): string {
  if (b === 0x20) return '_';
  const c = String.fromCharCode(b);
  return b < 0x80 && Q_LITERAL.test(c) ? c : `=${b.toString(16).toUpperCase().padStart(2, '0')}`;
}

function encodedLength(encoding: Encoding, chunks: Uint8Array[]): number {
  let bytes = 0;
  let q = 0;
  for (const chunk of chunks) {
    bytes += chunk.length;
    if (encoding === 'Q') for (const b of chunk) q += qByte(b).length;
  }
  return encoding === 'Q' ? q : Math.ceil(bytes / 3) * 4;
}

/** Q reads better for mostly-ASCII text, B is shorter for the rest: take the shorter. */
function pickEncoding(text: string): Encoding {
  const all = [utf8(text)];
  return encodedLength('Q', all) <= encodedLength('B', all) ? 'Q' : 'B';
}

function wrap(encoding: Encoding, chunks: Uint8Array[]): string {
  const bytes = Buffer.concat(chunks);
  const payload = encoding === 'B' ? bytes.toString('base64') : Array.from(bytes, qByte).join('');
  return `=?UTF-8?${encoding}?${payload}?=`;
}

function utf8(s: string): Uint8Array {
  return Buffer.from(s, 'utf8');
}

// Made at first use: ICU's break rules take 20–30 ms of CPU to load, which commands that only
// load this file (to read campaigns, or to plan) should not pay, nor headers in plain ASCII.
let segmenter: Intl.Segmenter | undefined;

function graphemes(text: string): string[] {
  segmenter ??= new Intl.Segmenter('en', { granularity: 'grapheme' });
  return Array.from(segmenter.segment(text), (s) => s.segment);
}
