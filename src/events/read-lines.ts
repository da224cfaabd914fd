import { StringDecoder } from 'node:string_decoder';
import type { Readable } from 'node:stream';

/**
 * The lines of a stream, a chunk's worth at a time: what node:readline gives with `crlfDelay:
 * Infinity` (a line ends at \n, \r\n or a lone \r; a last line without an end counts too), at a
 * fraction of its cost. readline hands out every line through an event and a promise and splits
 * each chunk with a regular expression; here a chunk's lines come out together, found with
 * indexOf. With the record hash in one call (parse-ses-event), reading and parsing the ingest
 * bench's records went from 13.6 to 10.7 CPU-s per 1M events (docs/benchmarks.md).
 *
 * Only the new chunk is searched for line ends, so a single line of many megabytes costs one
 * pass over its bytes, not one per chunk.
 */
export async function* readLines(stream: Readable): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  // The start of a line whose end has not arrived yet, in pieces.
  let pending: string[] = [];
  // The last chunk ended in \r: a \n at the start of the next one ends no further line.
  let sawReturn = false;
  const split = (s: string): string[] => {
    const lines: string[] = [];
    let from = 0;
    for (let nl = s.indexOf('\n'); nl !== -1; nl = s.indexOf('\n', from)) {
      if (pending.length > 0) {
        pending.push(s.slice(from, nl));
        lines.push(pending.join(''));
        pending = [];
      } else {
        lines.push(s.slice(from, nl));
      }
      from = nl + 1;
    }
    if (from < s.length) pending.push(s.slice(from));
    return lines;
  };
  for await (const chunk of stream as AsyncIterable<Buffer | string>) {
    let s = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    if (s === '') continue;
    if (sawReturn && s.charCodeAt(0) === 10) s = s.slice(1);
    sawReturn = false;
    if (s.includes('\r')) {
      sawReturn = s.endsWith('\r');
      s = s.replace(/\r\n?/g, '\n');
    }
    const lines = split(s);
    if (lines.length > 0) yield lines;
  }
  let tail = decoder.end();
  if (sawReturn && tail.charCodeAt(0) === 10) tail = tail.slice(1);
  const lines = split(tail.replace(/\r\n?/g, '\n'));
  if (pending.length > 0) lines.push(pending.join(''));
  if (lines.length > 0) yield lines;
}
