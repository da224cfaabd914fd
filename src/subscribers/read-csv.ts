import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { inputError } from '../errors.js';
import { readLines, type LineProblem, type TextLine } from './read-lines.js';

export type CsvRow =
  /** `problem`: the record parsed, but holds bytes that cannot be stored (NUL, invalid UTF-8). */
  | { line: number; fields: string[]; problem?: string | undefined }
  /** `error`: the whole reason, e.g. "malformed CSV: unclosed quote". */
  | { line: number; error: string };

export interface CsvHeader {
  line: number;
  columns: string[];
  delimiter: string;
}

// A quoted field may hold line breaks, but an unclosed quote would otherwise swallow the rest
// of the file. Past this many physical lines the record is rejected and parsing resumes on the
// line after its start, so one stray quote costs one row, not every row after it.
const MAX_RECORD_LINES = 50;

/** The largest record read (64 KiB): a longer one is rejected without being held in memory. */
export const MAX_ROW_BYTES = 64 * 1024;

const LINE_PROBLEM: Record<LineProblem, string> = {
  'invalid UTF-8': 'not valid UTF-8 (save the file as UTF-8)',
  'NUL byte': 'contains a NUL byte',
  'too long': `row longer than ${MAX_ROW_BYTES / 1024} KB`,
};

/**
 * A streaming RFC 4180 reader: `,`/`;`/tab delimiters, quoted fields with delimiters, quotes
 * ("") and line breaks, CRLF, LF or CR, UTF-8 with or without BOM. Yields one row per record
 * with the line it starts on; a malformed record becomes an error row and reading goes on.
 *
 * Written here rather than with csv-parse because its error recovery (skip_records_with_error)
 * drops every record after an unclosed quote, and it reports the line a record ends on, not
 * the one a user would look at.
 */
export class CsvReader {
  header: CsvHeader | undefined;
  private readonly delimiterOption: string | undefined;
  private readonly maxRowBytes: number;

  constructor(private readonly input: Readable, options: { delimiter?: string; maxRowBytes?: number } = {}) {
    this.delimiterOption = options.delimiter;
    this.maxRowBytes = options.maxRowBytes ?? MAX_ROW_BYTES;
  }

  async *rows(): AsyncGenerator<CsvRow> {
    let pending: { start: number; lines: string[]; chars: number; problem: LineProblem | undefined } | undefined;
    const queue: TextLine[] = [];
    const self = this;
    const maxChars = this.maxRowBytes;

    // Parse the queued physical lines into records, re-queuing lines after a failed record.
    function* drain(eof: boolean): Generator<CsvRow> {
      while (queue.length > 0) {
        const { no, text, problem } = queue.shift()!;
        if (!pending) {
          if (!self.header) {
            if (problem) {
              yield { line: no, error: `header: ${LINE_PROBLEM[problem]}` };
              return;
            }
            const clean = no === 1 ? text.replace(/^\uFEFF/, '') : text;
            if (clean.trim() === '') continue;
            const delimiter = self.delimiterOption ?? detectDelimiter(clean);
            const parsed = parseRecord(clean, delimiter);
            if (!Array.isArray(parsed)) {
              yield { line: no, error: `header: ${parsed.error ?? 'unclosed quote'}` };
              return;
            }
            self.header = { line: no, columns: parsed.map((c) => c.trim()), delimiter };
            continue;
          }
          if (problem === 'too long') {
            yield { line: no, error: LINE_PROBLEM[problem] };
            continue;
          }
          if (text.trim() === '') continue;
          pending = { start: no, lines: [text], chars: text.length, problem };
        } else if (problem === 'too long') {
          // The rest of the record is lost with the line: reject it whole, go on after it.
          yield { line: pending.start, error: LINE_PROBLEM[problem] };
          pending = undefined;
          continue;
        } else {
          pending.lines.push(text);
          pending.chars += text.length + 1;
          pending.problem ??= problem;
        }
        const joined = pending.lines.length === 1 ? pending.lines[0]! : pending.lines.join('\n');
        const parsed = parseRecord(joined, self.header!.delimiter);
        if (Array.isArray(parsed)) {
          const p = pending.problem;
          if (pending.lines.length > 1 && pending.chars * 3 > maxChars && Buffer.byteLength(joined) > maxChars) {
            yield { line: pending.start, error: LINE_PROBLEM['too long'] };
          } else yield p ? { line: pending.start, fields: parsed, problem: LINE_PROBLEM[p] } : { line: pending.start, fields: parsed };
          pending = undefined;
        } else if (parsed.error) {
          yield { line: pending.start, error: `malformed CSV: ${parsed.error}` };
          requeue(pending, 1);
          pending = undefined;
        } else if (pending.lines.length >= MAX_RECORD_LINES || pending.chars > maxChars) {
          yield { line: pending.start, error: pending.chars > maxChars ? `malformed CSV: unclosed quote (or a quoted field over ${maxChars / 1024} KB)` : 'malformed CSV: unclosed quote' };
          requeue(pending, 1);
          pending = undefined;
        }
      }
      if (eof && pending) {
        yield { line: pending.start, error: 'malformed CSV: unclosed quote at end of file' };
        const p = pending;
        pending = undefined;
        if (p.lines.length > 1) {
          requeue(p, 1);
          yield* drain(true);
        }
      }
    }
    function requeue(p: { start: number; lines: string[] }, from: number): void {
      queue.unshift(...p.lines.slice(from).map((text, i) => ({ no: p.start + from + i, text, problem: flagged.get(p.start + from + i) })));
    }
    // Flags of lines inside a pending record, so a requeued line keeps its problem.
    const flagged = new Map<number, LineProblem>();

    for await (const lines of readLines(this.input, this.maxRowBytes)) {
      for (const l of lines) {
        if (l.problem && l.problem !== 'too long') flagged.set(l.no, l.problem);
        queue.push(l);
      }
      yield* drain(false);
      if (!pending) flagged.clear();
    }
    yield* drain(true);
  }
}

/**
 * One record's fields, `{}` when a quoted field is still open at the end of the text (the record
 * continues on the next line), or `{ error }` when it cannot be a CSV record.
 */
export function parseRecord(text: string, delimiter: string): string[] | { error?: string } {
  if (!text.includes('"')) return text.endsWith('\r') ? text.slice(0, -1).split(delimiter) : text.split(delimiter);
  const fields: string[] = [];
  let i = 0;
  const n = text.length;
  for (;;) {
    if (text[i] === '"') {
      let value = '';
      i += 1;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q === -1) return {};
        value += text.slice(i, q);
        if (text[q + 1] === '"') {
          value += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      fields.push(value);
      if (i >= n || (text[i] === '\r' && i === n - 1)) return fields;
      if (text[i] !== delimiter) return { error: `unexpected text after a closing quote in field ${fields.length}` };
      i += 1;
    } else {
      const d = text.indexOf(delimiter, i);
      const end = d === -1 ? n : d;
      let value = text.slice(i, end);
      if (d === -1 && value.endsWith('\r')) value = value.slice(0, -1);
      if (value.includes('"')) return { error: `stray quote in field ${fields.length + 1} (quote the whole field and double inner quotes)` };
      fields.push(value);
      if (d === -1) return fields;
      i = d + 1;
    }
  }
}

/** The delimiter the header line uses most, outside quotes: `,` unless `;` or tab clearly win. */
export function detectDelimiter(headerLine: string): string {
  const unquoted = headerLine.replace(/"[^"]*"/g, '');
  const count = (c: string) => unquoted.split(c).length - 1;
  const candidates: [string, number][] = [[',', count(',')], [';', count(';')], ['\t', count('\t')]];
  candidates.sort((a, b) => b[1] - a[1]);
  return candidates[0]![1] > 0 ? candidates[0]![0] : ',';
}

/**
 * Open a CSV file for reading, refusing what is plainly not CSV (a binary file, a directory)
 * with a message that names the file.
 */
export async function openCsv(file: string): Promise<Readable> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw inputError('CSV_UNREADABLE', `Cannot read ${file}: ${why}.`, { cause: err });
  }
  try {
    const stat = await handle.stat();
    if (stat.isDirectory()) throw inputError('CSV_UNREADABLE', `Cannot read ${file}: it is a directory.`);
    const probe = Buffer.alloc(8192);
    const { bytesRead } = await handle.read(probe, 0, probe.length, 0);
    const head = probe.subarray(0, bytesRead);
    if (bytesRead === 0) throw inputError('CSV_EMPTY', `${file} is empty: expected a header row with an "email" column.`);
    if (looksBinary(head)) {
      throw inputError('CSV_NOT_TEXT', `${file} is not a CSV file (it contains binary data).`, {
        hint: 'Export the list as CSV (UTF-8) with a header row, e.g. "email,first_name,last_name,timezone,tags".',
      });
    }
  } finally {
    await handle.close();
  }
  // Bytes, not text: the reader checks UTF-8 line by line (see read-lines.ts).
  return createReadStream(file, { highWaterMark: 64 * 1024 });
}

/**
 * A file is refused whole only when its first line cannot be a header: a NUL byte, bytes that
 * are not UTF-8, or control characters (a PNG, a zip/xlsx, gzip, UTF-16). A NUL or bad byte
 * further down costs the row it is in, not the file.
 */
export function looksBinary(head: Buffer): boolean {
  const lf = head.indexOf(0x0a);
  const cr = head.indexOf(0x0d);
  const end = Math.min(lf === -1 ? head.length : lf, cr === -1 ? head.length : cr);
  const first = head.subarray(0, end);
  let text: string;
  try {
    // stream: true tolerates a character cut at the end of the probe.
    text = new TextDecoder('utf-8', { fatal: true }).decode(first, { stream: true });
  } catch {
    return true;
  }
  return /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/.test(text);
}
