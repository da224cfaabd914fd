import { readFile, stat } from 'node:fs/promises';
import { inputError } from '../errors.js';
import { detectDelimiter, parseRecord } from './read-csv.js';

// An erasure list is a few addresses to a few hundred thousand; past this it is not one.
const MAX_BYTES = 64 * 1024 * 1024;

/**
 * Addresses from a file: a CSV with an "email" column (any delimiter the importer reads), or
 * one address per line with no header. Lines that hold no address are reported, not guessed at.
 */
export async function readAddressList(file: string): Promise<{ addresses: string[]; problems: string[] }> {
  let text: string;
  try {
    if ((await stat(file)).size > MAX_BYTES) throw inputError('LIST_TOO_LARGE', `${file} is over ${MAX_BYTES / 1024 / 1024} MB: split it.`);
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as { code?: string }).code === 'LIST_TOO_LARGE') throw err;
    throw inputError('LIST_UNREADABLE', `Cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const first = lines.findIndex((l) => l.trim() !== '');
  if (first === -1) return { addresses: [], problems: [] };
  const delimiter = detectDelimiter(lines[first]!);
  const header = parseRecord(lines[first]!, delimiter);
  const column = Array.isArray(header) ? header.findIndex((h) => h.trim().toLowerCase() === 'email') : -1;
  const hasHeader = column !== -1;
  if (!hasHeader && !lines[first]!.includes('@')) {
    throw inputError('LIST_NO_EMAIL', `${file}: the first line is neither a header with an "email" column nor an address.`);
  }
  const addresses: string[] = [];
  const problems: string[] = [];
  for (let i = hasHeader ? first + 1 : first; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const fields = hasHeader ? parseRecord(line, delimiter) : [line];
    const value = Array.isArray(fields) ? fields[hasHeader ? column : 0]?.trim() : undefined;
    if (!value || !value.includes('@')) problems.push(`line ${i + 1}: no address`);
    else addresses.push(value);
  }
  return { addresses, problems };
}
