import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import readline from 'node:readline';
import type { Readable } from 'node:stream';
import { inputError } from '../errors.js';

export type CsvRow =
  | { line: number; fields: string[] }
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

/**
 * A streaming RFC 4180 reader: `,`/`;`/tab delimiters, quoted fields with delimiters, quotes
 * ("") and line breaks, CRLF or LF, UTF-8 with or without BOM. Yields one row per record with
 * the line it starts on; a malformed record becomes an error row and reading goes on.
 *
 * Written here rather than with csv-parse because its error recovery (skip_records_with_error)
 * drops every record after an unclosed quote, and it reports the line a record ends on, not
 * the one a user would look at.
 */
export class CsvReader {
  header: CsvHeader | undefined;
  private readonly delimiterOption: string | undefined;

  constructor(private readonly input: Readable, options: { delimiter?: string } = {}) {
    this.delimiterOption = options.delimiter;
  }

  async *rows(): AsyncGenerator<CsvRow> {
    const rl = readline.createInterface({ input: this.input, crlfDelay: Infinity });
    let lineNo = 0;
    let pending: { start: number; lines: string[] } | undefined;
    const queue: { no: number; text: string }[] = [];
    const self = this;

    // Parse the queued physical lines into records, re-queuing lines after a failed record.
    function* drain(eof: boolean): Generator<CsvRow> {
      while (queue.length > 0) {
        const { no, text } = queue.shift()!;
        if (!pending) {
          if (!self.header) {
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
          if (text.trim() === '') continue;
          pending = { start: no, lines: [text] };
        } else {
          pending.lines.push(text);
        }
        const parsed = parseRecord(pending.lines.join("\n"), self.header!.delimiter);
        if (Array.isArray(parsed)) {
          yield { line: pending.start, fields: parsed };
          pending = undefined;
        } else if (parsed.error) {
          yield { line: pending.start, error: parsed.error };
          requeue(pending, 1);
          pending = undefined;
        } else if (pending.lines.length >= MAX_RECORD_LINES) {
          yield { line: pending.start, error: 'unclosed quote' };
          requeue(pending, 1);
          pending = undefined;
        }
      }
      if (eof && pending) {
        yield { line: pending.start, error: 'unclosed quote at end of file' };
        const p = pending;
        pending = undefined;
        if (p.lines.length > 1) {
          requeue(p, 1);
          yield* drain(true);
        }
      }
    }
    function requeue(p: { start: number; lines: string[] }, from: number): void {
      queue.unshift(...p.lines.slice(from).map((text, i) => ({ no: p.start + from + i, text })));
    }

    for await (const text of rl) {
      lineNo += 1;
      queue.push({ no: lineNo, text });
      yield* drain(false);
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
    if (head.includes(0)) {
      throw inputError('CSV_NOT_TEXT', `${file} is not a CSV file (it contains binary data).`, {
        hint: 'Export the list as CSV (UTF-8) with a header row, e.g. "email,first_name,last_name,timezone,tags".',
      });
    }
  } finally {
    await handle.close();
  }
  return createReadStream(file, { encoding: 'utf8', highWaterMark: 64 * 1024 });
}
