import { createReadStream, fstat } from 'node:fs';
import type { Readable } from 'node:stream';
import { inputError } from '../errors.js';
import { plainRecordText } from './check-record.js';
import { isMalformed, parseSesRecord, unwrapRecords, type Malformed, type RecordInput, type SesEvent } from './parse-ses-event.js';
import { readLines } from './read-lines.js';

export interface RecordBatch {
  events: SesEvent[];
  malformed: Malformed[];
}

export interface ReadOptions {
  /** Events per batch (default 2,000). */
  batchSize?: number | undefined;
  /** Keep each event's payload (config events_payload: full); see parseSesRecord. */
  keepPayload?: boolean | undefined;
}

// Records are parsed as they are read, so a batch in flight holds compact events rather than
// whole SES records (headers and all): less for the garbage collector to copy.
function add(batch: RecordBatch, records: RecordInput[], malformed: Malformed[], keepPayload: boolean): void {
  const now = Date.now();
  for (const r of records) {
    const parsed = parseSesRecord(r, now, keepPayload);
    if (isMalformed(parsed)) batch.malformed.push(parsed);
    else batch.events.push(parsed);
  }
  batch.malformed.push(...malformed);
}

// A file whose first line is not JSON is held until its end to find out whether it is one
// pretty-printed document; past this size it is read as JSON lines (a single document that
// large could not be parsed in one piece anyway).
const MAX_DOCUMENT_CHARS = 128 * 1024 * 1024;

/**
 * Records from JSON or JSON lines: each line one record, one SNS envelope or an array of them;
 * or the whole input one JSON document (a pretty-printed record or an array). Lines stream in
 * batches, so a file of millions of events never sits in memory. A line that is not JSON costs
 * that line: when the first line is not JSON and the whole input is not one document either,
 * every line is still read on its own (`{oops` then three good lines stores three).
 */
export async function* readRecordStream(stream: Readable, name: string, options: ReadOptions = {}): AsyncGenerator<RecordBatch> {
  const batchSize = options.batchSize ?? 2000;
  const keepPayload = options.keepPayload ?? true;
  let batch: RecordBatch = { events: [], malformed: [] };
  let lineNo = 0;
  let firstContent: number | undefined;
  // Lines held while it is not yet known whether the input is one document.
  let held: string[] | undefined;
  let heldChars = 0;

  /** Add one line's records to the batch; true when the batch is full. */
  function readLine(line: string, no: number): boolean {
    const text = line.trim();
    if (text === '') return false;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      batch.malformed.push({ position: `${name}:${no}`, reason: `not JSON (${(err as Error).message})` });
      return false;
    }
    const { records, malformed } = unwrapRecords(value, `${name}:${no}`);
    if (plainRecordText(text)) for (const r of records) r.plain = true;
    add(batch, records, malformed, keepPayload);
    return batch.events.length >= batchSize;
  }
  function* readHeld(lines: string[]): Generator<RecordBatch> {
    for (let i = 0; i < lines.length; i += 1) {
      if (!readLine(lines[i]!, i + 1)) continue;
      yield batch;
      batch = { events: [], malformed: [] };
    }
  }

  for await (const chunk of readLines(stream)) {
    for (const line of chunk) {
      lineNo += 1;
      if (held) {
        held.push(line);
        heldChars += line.length + 1;
        if (heldChars > MAX_DOCUMENT_CHARS) {
          const lines = held;
          held = undefined;
          yield* readHeld(lines);
        }
        continue;
      }
      if (firstContent === undefined) {
        const text = line.trim();
        if (text === '') continue;
        firstContent = lineNo;
        try {
          JSON.parse(text);
        } catch {
          held = [...Array<string>(lineNo - 1).fill(''), line];
          heldChars = line.length;
          continue;
        }
      }
      if (!readLine(line, lineNo)) continue;
      yield batch;
      batch = { events: [], malformed: [] };
    }
  }
  if (held) {
    let value: unknown;
    let whole = true;
    try {
      value = JSON.parse(held.join('\n'));
    } catch {
      whole = false;
    }
    if (whole) {
      held = undefined;
      const { records, malformed } = unwrapRecords(value, name);
      for (let i = 0; i < records.length; i += batchSize) {
        const b: RecordBatch = { events: [], malformed: [] };
        add(b, records.slice(i, i + batchSize), i === 0 ? malformed : [], keepPayload);
        yield b;
      }
      if (records.length === 0) yield { events: [], malformed };
      return;
    }
    // Not one document: JSON lines whose first line (at least) is broken.
    const lines = held;
    held = undefined;
    yield* readHeld(lines);
  }
  if (batch.events.length > 0 || batch.malformed.length > 0) yield batch;
}

/**
 * Open a file (or stdin for `-`) as record batches. `onRead` hears, before each batch, how many
 * bytes of the file were read and its size (undefined for stdin), for a share-done figure.
 */
export function readRecordFile(file: string, stdin: Readable, options: ReadOptions & { onRead?: (bytesRead: number, size: number | undefined) => void } = {}): AsyncGenerator<RecordBatch> {
  const { onRead } = options;
  if (file === '-') return readRecordStream(stdin, 'stdin', options);
  const stream = createReadStream(file);
  let size: number | undefined;
  stream.once('open', (fd: number) => {
    fstat(fd, (err, st) => { if (!err) size = st.size; });
  });
  // Surface a missing file as bad input rather than an unhandled stream error.
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err: NodeJS.ErrnoException) =>
      reject(inputError('EVENTS_FILE_UNREADABLE', `Cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, { cause: err })));
  });
  return (async function* () {
    await opened;
    for await (const batch of readRecordStream(stream, file, options)) {
      onRead?.(stream.bytesRead, size);
      yield batch;
    }
  })();
}
