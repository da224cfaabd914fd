import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { inputError } from '../errors.js';
import { unwrapRecords, type Malformed, type RecordInput } from './parse-ses-event.js';

export interface RecordBatch {
  records: RecordInput[];
  malformed: Malformed[];
}

/**
 * Records from JSON or JSON lines: each line one record, one SNS envelope or an array of them;
 * or the whole input one JSON document (a pretty-printed record or an array). Lines stream in
 * batches, so a file of millions of events never sits in memory.
 */
export async function* readRecordStream(stream: Readable, name: string, batchSize = 2000): AsyncGenerator<RecordBatch> {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  let batch: RecordBatch = { records: [], malformed: [] };
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
    batch.records.push(...records);
    batch.malformed.push(...malformed);
    if (batch.records.length >= batchSize) {
      yield batch;
      batch = { records: [], malformed: [] };
    }
  }
  if (whole) {
    let value: unknown;
    try {
      value = JSON.parse(whole.join('\n'));
    } catch (err) {
      yield { records: [], malformed: [{ position: name, reason: `neither JSON lines nor one JSON document (${(err as Error).message})` }] };
      return;
    }
    const { records, malformed } = unwrapRecords(value, name);
    for (let i = 0; i < records.length; i += batchSize) yield { records: records.slice(i, i + batchSize), malformed: i === 0 ? malformed : [] };
    if (records.length === 0) yield { records: [], malformed };
    return;
  }
  if (batch.records.length > 0 || batch.malformed.length > 0) yield batch;
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
