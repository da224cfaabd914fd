import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { inputError } from '../errors.js';
import { isMalformed, parseSesRecord, unwrapRecords, type Malformed, type RecordInput, type SesEvent } from './parse-ses-event.js';

export interface RecordBatch {
  events: SesEvent[];
  malformed: Malformed[];
}

// Records are parsed as they are read, so a batch in flight holds compact events rather than
// whole SES records (headers and all): less for the garbage collector to copy.
function add(batch: RecordBatch, records: RecordInput[], malformed: Malformed[]): void {
  for (const r of records) {
    const parsed = parseSesRecord(r);
    if (isMalformed(parsed)) batch.malformed.push(parsed);
    else batch.events.push(parsed);
  }
  batch.malformed.push(...malformed);
}

/**
 * Records from JSON or JSON lines: each line one record, one SNS envelope or an array of them;
 * or the whole input one JSON document (a pretty-printed record or an array). Lines stream in
 * batches, so a file of millions of events never sits in memory.
 */
export async function* readRecordStream(stream: Readable, name: string, batchSize = 2000): AsyncGenerator<RecordBatch> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let batch: RecordBatch = { events: [], malformed: [] };
  let lineNo = 0;
  let firstContent: number | undefined;
  let whole: string[] | undefined;
  for await (const line of lines) {
    lineNo += 1;
    if (whole) {
      whole.push(line);
      continue;
    }
    const text = line.trim();
    if (text === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      if (firstContent === undefined) {
        // Not JSON lines: the input is one document spread over lines.
        whole = [...Array<string>(lineNo - 1).fill(''), line];
        continue;
      }
      batch.malformed.push({ position: `${name}:${lineNo}`, reason: `not JSON (${(err as Error).message})` });
      continue;
    }
    firstContent ??= lineNo;
    const { records, malformed } = unwrapRecords(value, `${name}:${lineNo}`);
    add(batch, records, malformed);
    if (batch.events.length >= batchSize) {
      yield batch;
      batch = { events: [], malformed: [] };
    }
  }
  if (whole) {
    let value: unknown;
    try {
      value = JSON.parse(whole.join('\n'));
    } catch (err) {
      yield { events: [], malformed: [{ position: name, reason: `neither JSON lines nor one JSON document (${(err as Error).message})` }] };
      return;
    }
    const { records, malformed } = unwrapRecords(value, name);
    for (let i = 0; i < records.length; i += batchSize) {
      const b: RecordBatch = { events: [], malformed: [] };
      add(b, records.slice(i, i + batchSize), i === 0 ? malformed : []);
      yield b;
    }
    if (records.length === 0) yield { events: [], malformed };
    return;
  }
  if (batch.events.length > 0 || batch.malformed.length > 0) yield batch;
}

/** Open a file (or stdin for `-`) as record batches. */
export function readRecordFile(file: string, stdin: Readable, batchSize?: number): AsyncGenerator<RecordBatch> {
  if (file === '-') return readRecordStream(stdin, 'stdin', batchSize);
  const stream = createReadStream(file);
  // Surface a missing file as bad input rather than an unhandled stream error.
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('open', () => resolve());
    stream.once('error', (err: NodeJS.ErrnoException) =>
      reject(inputError('EVENTS_FILE_UNREADABLE', `Cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`, { cause: err })));
  });
  return (async function* () {
    await opened;
    yield* readRecordStream(stream, file, batchSize);
  })();
}
