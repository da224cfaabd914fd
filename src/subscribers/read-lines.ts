import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';

export interface TextLine {
  /** 1-based physical line number. */
  no: number;
  /** The line without its line break; '' when it was too long to keep. */
  text: string;
  /** Why the line cannot be used as it is; undefined for a clean line. */
  problem?: LineProblem | undefined;
}

export type LineProblem = 'invalid UTF-8' | 'NUL byte' | 'too long';

const LF = 0x0a;
const CR = 0x0d;
const LINE_BREAK = /\r\n|\n|\r/;

/**
 * Physical lines of a byte stream (LF, CRLF or a lone CR, as spreadsheets on a Mac still
 * write), each flagged when it is not valid UTF-8, holds a NUL byte or exceeds `maxBytes`.
 *
 * Works on bytes rather than on a decoded stream: decoding replaces invalid UTF-8 with U+FFFD
 * and the line could no longer be told from one that holds U+FFFD on purpose. A line longer
 * than `maxBytes` is skipped as it streams past, so a 20 MB cell costs 64 KB of memory, not
 * 20 MB. The common case (a valid chunk with no NUL) is one validity check and one decode per
 * 64 KB chunk, the same work readline does.
 */
export async function* readLines(input: Readable, maxBytes: number): AsyncGenerator<TextLine[]> {
  let carry: Buffer = Buffer.alloc(0);
  // Set while the current line is over the limit: its bytes are dropped until the next break.
  let skipping = false;
  let no = 0;

  const emit = (part: Buffer, out: TextLine[]) => {
    // `part` ends just after a line break; every line in it is complete.
    if (isUtf8(part) && part.indexOf(0) === -1) {
      const lines = part.toString('utf8').split(LINE_BREAK);
      lines.pop();
      for (const text of lines) {
        no += 1;
        if (skipping) {
          skipping = false;
          out.push({ no, text: '', problem: 'too long' });
        } else if (text.length * 3 > maxBytes && Buffer.byteLength(text) > maxBytes) out.push({ no, text: '', problem: 'too long' });
        else out.push({ no, text });
      }
      return;
    }
    // Slow path, only for a chunk with a bad line in it: split on bytes, check line by line.
    let start = 0;
    while (start < part.length) {
      let end = start;
      while (part[end] !== LF && part[end] !== CR) end += 1;
      const line = part.subarray(start, end);
      start = end + (part[end] === CR && part[end + 1] === LF ? 2 : 1);
      no += 1;
      if (skipping || line.length > maxBytes) {
        skipping = false;
        out.push({ no, text: '', problem: 'too long' });
      } else {
        const problem = !isUtf8(line) ? 'invalid UTF-8' : line.indexOf(0) !== -1 ? 'NUL byte' : undefined;
        out.push({ no, text: line.toString('utf8'), problem });
      }
    }
  };

  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    const buf = carry.length === 0 ? bytes : Buffer.concat([carry, bytes]);
    // The last break whose kind is known: a CR at the very end may be the first half of CRLF.
    const cut = Math.max(buf.lastIndexOf(LF), buf.length >= 2 ? buf.lastIndexOf(CR, buf.length - 2) : -1);
    const out: TextLine[] = [];
    if (cut >= 0) {
      emit(buf.subarray(0, cut + 1), out);
      carry = buf.subarray(cut + 1);
    } else carry = buf;
    if (carry.length > maxBytes) {
      skipping = true;
      carry = Buffer.alloc(0);
    } else if (carry.length > 0 && carry.buffer === bytes.buffer) {
      // Keep only the tail, not the whole 64 KB chunk it was sliced from.
      carry = Buffer.from(carry);
    }
    if (out.length > 0) yield out;
  }
  if (carry.length > 0 || skipping) {
    const out: TextLine[] = [];
    emit(Buffer.concat([carry, Buffer.from('\n')]), out);
    yield out;
  }
}
