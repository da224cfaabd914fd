import { describe, expect, it } from 'vitest';
import { encodeWords, MAX_ENCODED_WORD } from '../../../src/sending/headers/encoded-word.js';

/** One encoded-word's bytes, decoded as RFC 2047 says (a reader's view, written out here). */
function wordBytes(word: string): Buffer {
  const m = /^=\?UTF-8\?([QB])\?([^?]*)\?=$/.exec(word);
  if (!m) throw new Error(`not an encoded-word: ${word}`);
  if (m[1] === 'B') return Buffer.from(m[2]!, 'base64');
  return Buffer.from(m[2]!.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1');
}

/** Each word must hold whole UTF-8 sequences: a fatal decoder refuses half a character. */
function decodeEach(words: string[]): string[] {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return words.map((w) => decoder.decode(wordBytes(w)));
}

function graphemeEnds(text: string): Set<number> {
  const ends = new Set<number>();
  for (const s of new Intl.Segmenter('en', { granularity: 'grapheme' }).segment(text)) ends.add(s.index + s.segment.length);
  return ends;
}

const FAMILY = '👩‍👩‍👧‍👦';
const CASES: Record<string, string> = {
  'u-umlauts': 'ü'.repeat(400),
  'mixed ASCII and accents': 'Grüße aus Köln, café au lait für alle '.repeat(20),
  'CJK': '東京の春のセール、本日より開始いたします'.repeat(10),
  'emoji families': `${FAMILY} `.repeat(40),
  'flags': '🇩🇪🇫🇷🇯🇵🇧🇷'.repeat(30),
  'combining marks': 'e\u0301a\u0308o\u0302'.repeat(60),
  'supplementary plane': '𝔘𝔫𝔦𝔠𝔬𝔡𝔢'.repeat(40),
  'encoded-word look-alike': '=?utf-8?q?hello?= and =?UTF-8?B?aGk=?=',
};

describe('encoded-words', () => {
  for (const [label, text] of Object.entries(CASES)) {
    it(`${label}: each word at most 75 characters, whole characters and graphemes, decoding to the text`, () => {
      const words = encodeWords(text, { first: 60, rest: MAX_ENCODED_WORD });
      expect(words.length).toBeGreaterThan(0);
      expect(words[0]!.length).toBeLessThanOrEqual(60);
      for (const w of words) expect(w.length).toBeLessThanOrEqual(75);
      const decoded = decodeEach(words);
      expect(decoded.join('')).toBe(text);
      const ends = graphemeEnds(text);
      let at = 0;
      for (const part of decoded) {
        at += part.length;
        expect(ends.has(at), `a word ends inside a grapheme at ${at}`).toBe(true);
      }
    });
  }

  it('keeps a grapheme whole when it fits a word, even one of 25 octets', () => {
    const words = encodeWords(`ab${FAMILY}`, { first: 30, rest: 75 });
    expect(decodeEach(words)).toEqual(['ab', FAMILY]);
  });

  it('cuts a grapheme too long for any word between code points, never inside one', () => {
    const text = `a${'\u0301'.repeat(200)}`;
    const words = encodeWords(text);
    expect(words.length).toBeGreaterThan(1);
    const decoded = decodeEach(words);
    expect(decoded.join('')).toBe(text);
    for (const w of words) expect(w.length).toBeLessThanOrEqual(75);
  });

  it('uses Q for mostly-ASCII text, so it stays readable, and B where that is shorter', () => {
    expect(encodeWords('Café news')).toEqual(['=?UTF-8?Q?Caf=C3=A9_news?=']);
    expect(encodeWords('üüü')).toEqual(['=?UTF-8?B?w7zDvMO8?=']);
  });

  it('leaves in Q words only letters, digits and !*+-/, which no header syntax reads', () => {
    const text = 'Anna "the Editor" <editor> says that =?utf-8?q?x?= is not a word here, and neither is (this) one: fifty percent off for everyone today only!';
    const words = encodeWords(text);
    expect(words.every((w) => w.startsWith('=?UTF-8?Q?'))).toBe(true);
    for (const w of words) expect(w.slice(10, -2)).toMatch(/^(?:[A-Za-z0-9!*+\-/_]|=[0-9A-F]{2})*$/);
    expect(decodeEach(words).join('')).toBe(text);
  });
});
