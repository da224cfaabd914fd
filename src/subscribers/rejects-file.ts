import type { WriteStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { once } from 'node:events';
import { inputError, MarketerError } from '../errors.js';

/**
 * One CSV cell of the rejects file. Cells a spreadsheet would run as a formula (starting with
 * =, +, -, @, tab or CR) get a leading apostrophe, as the OWASP CSV injection advice says: the
 * rejected rows are someone else's data, opened by whoever fixes them.
 */
export function rejectsCell(value: string): string {
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n;\t]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export interface RejectsFile {
  path: string;
  write(cells: string[]): void;
  /** Flush and close; throws when a write failed (a full disk). */
  close(): Promise<void>;
}

function why(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'ENOENT') return 'its folder does not exist';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  if (code === 'ENOTDIR') return 'a part of the path is not a folder';
  if (code === 'ENOSPC') return 'the disk is full';
  return (err as Error).message;
}

/**
 * Open the --rejects file before the input is read: refused when it is the input itself (same
 * file through any path, link or symlink: writing it would destroy the list being read), a
 * directory, or cannot be written.
 */
export async function openRejectsFile(path: string, inputPath: string): Promise<RejectsFile> {
  const [target, input] = await Promise.all([stat(path).catch(() => undefined), stat(inputPath).catch(() => undefined)]);
  if (target && input && target.dev === input.dev && target.ino === input.ino) {
    throw inputError('REJECTS_IS_INPUT', `--rejects ${path} is the input file itself: writing it would overwrite the list being imported.`, {
      hint: 'Name another file, e.g. --rejects rejected.csv.',
    });
  }
  if (target?.isDirectory()) throw inputError('REJECTS_UNWRITABLE', `Cannot write --rejects ${path}: it is a directory.`);
  let handle;
  try {
    handle = await open(path, 'w');
  } catch (err) {
    throw inputError('REJECTS_UNWRITABLE', `Cannot write --rejects ${path}: ${why(err)}.`, { cause: err });
  }
  const out: WriteStream = handle.createWriteStream({ encoding: 'utf8' });
  let failure: unknown;
  out.on('error', (err) => {
    failure ??= err;
  });
  return {
    path,
    write(cells) {
      if (failure === undefined) out.write(`${cells.map(rejectsCell).join(',')}\n`);
    },
    async close() {
      if (!out.closed) {
        out.end();
        await once(out, 'close').catch(() => undefined);
      }
      if (failure !== undefined) throw new MarketerError('REJECTS_WRITE_FAILED', `Writing --rejects ${path} failed: ${why(failure)}.`, { cause: failure });
    },
  };
}
