import { Readable } from 'node:stream';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { readLines } from '../../src/events/read-lines.js';

/** The lines node:readline gives for these chunks (the behaviour readLines keeps). */
async function viaReadline(chunks: Buffer[]): Promise<string[]> {
  const out: string[] = [];
  for await (const line of createInterface({ input: Readable.from(chunks), crlfDelay: Infinity })) out.push(line);
  return out;
}

async function viaReadLines(chunks: Buffer[]): Promise<string[]> {
  const out: string[] = [];
  for await (const lines of readLines(Readable.from(chunks))) out.push(...lines);
  return out;
}

/** The text cut into chunks at every given byte offset. */
function cut(text: string, at: number[]): Buffer[] {
  const bytes = Buffer.from(text, 'utf8');
  const chunks: Buffer[] = [];
  let from = 0;
  for (const to of [...at, bytes.length]) {
    chunks.push(bytes.subarray(from, to));
    from = to;
  }
  return chunks.filter((c) => c.length > 0);
}

describe('reading lines', () => {
  const texts = [
    '{"a":1}\n{"b":2}\n',
    '{"a":1}\n{"b":2}',
    '{"a":1}\r\n{"b":2}\r\n\r\n',
    'one\rtwo\r\nthree\n\nfour\r',
    '\n\n{"x":"caf\u00e9 \u{1F600}"}\n',
    'no end at all',
    '',
    '\r',
    '\r\n',
  ];

  it('gives the lines node:readline gives, wherever the chunks are cut', async () => {
    for (const text of texts) {
      const size = Buffer.byteLength(text);
      // Every single cut, so a \r\n and every multi-byte character is split once.
      for (let i = 0; i <= size; i += 1) {
        const chunks = cut(text, [i]);
        expect(await viaReadLines(chunks), JSON.stringify({ text, cut: i })).toEqual(await viaReadline(chunks));
      }
      const bytes = Array.from({ length: size }, (_, i) => i + 1).slice(0, -1);
      expect(await viaReadLines(cut(text, bytes)), JSON.stringify({ text, cut: 'every byte' })).toEqual(await viaReadline(cut(text, bytes)));
    }
  });

  it('reads a line of many chunks whole, and the lines around it', async () => {
    const long = JSON.stringify({ pad: 'x'.repeat(3_000_000) });
    const text = `{"first":1}\n${long}\n{"last":1}`;
    const at = Array.from({ length: 60 }, (_, i) => 7 + i * 65_536);
    const lines = await viaReadLines(cut(text, at));
    expect(lines).toHaveLength(3);
    expect(lines[1]).toBe(long);
    expect(lines[2]).toBe('{"last":1}');
  });
});
