import { closeSync, constants, fstatSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Campaign files, templates and partials are read only through here. A pull request decides
 * what they say, so it must not decide what else gets read: a template or partial is read only
 * if, after symlinks, it is a regular file inside the campaigns repository (the folder holding
 * marketer.yaml) and small enough. The size is checked on the open file before reading it all,
 * so a 50 MB file costs a stat, not 2 GB of memory.
 */

/** Campaign files, templates and each partial: a newsletter is a few tens of KB. */
export const MAX_CAMPAIGN_FILE_BYTES = 1024 * 1024;

export type ConfinedRead =
  | { ok: true; real: string; bytes: Buffer }
  | { ok: false; reason: string; hint?: string };

function isInside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel !== '' && !rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel);
}

function describeSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
}

/**
 * Read `target` (absolute) if it stays inside `root` after symlinks, is a regular file and holds
 * at most `limit` bytes; otherwise say why not. `root: undefined` skips the confinement (a
 * campaign file named on the command line may live anywhere; its size is still limited).
 */
export function readConfined(target: string, root: string | undefined, limit = MAX_CAMPAIGN_FILE_BYTES): ConfinedRead {
  let real: string;
  try {
    real = realpathSync(target);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { ok: false, reason: code === 'ENOENT' || code === 'ENOTDIR' ? 'not found' : `cannot be read (${code ?? String(err)})` };
  }
  if (root !== undefined) {
    let realRoot: string;
    try {
      realRoot = realpathSync(root);
    } catch {
      realRoot = path.resolve(root);
    }
    if (!isInside(realRoot, real)) {
      return {
        ok: false,
        reason: `is outside the campaigns repository${real !== target ? ` (it resolves to ${real})` : ''}`,
        hint: 'templates and partials must be files inside the folder holding marketer.yaml; symlinks are followed before checking',
      };
    }
  }
  let fd: number;
  try {
    // A FIFO or device is refused before it is opened (opening a FIFO waits for a writer), and
    // O_NONBLOCK covers one swapped in between.
    if (!statSync(real).isFile()) return { ok: false, reason: `is not a regular file (${statSync(real).isDirectory() ? 'a folder' : 'a device, socket or pipe'})` };
    fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    return { ok: false, reason: `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})` };
  }
  try {
    const info = fstatSync(fd);
    if (!info.isFile()) return { ok: false, reason: `is not a regular file (${info.isDirectory() ? 'a folder' : 'a device, socket or pipe'})` };
    if (info.size > limit) {
      return { ok: false, reason: `is ${describeSize(info.size)}; at most ${describeSize(limit)} is read`, hint: 'a campaign file or template this big is a mistake: check what was committed' };
    }
    // Read one byte more than allowed, in case the file grew since the stat.
    const buffer = Buffer.alloc(Math.min(info.size, limit) + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.length; length += n) n = readSync(fd, buffer, length, buffer.length - length, null);
    if (length > limit) return { ok: false, reason: `is over ${describeSize(limit)}`, hint: 'a campaign file or template this big is a mistake: check what was committed' };
    return { ok: true, real, bytes: buffer.subarray(0, length) };
  } finally {
    closeSync(fd);
  }
}
