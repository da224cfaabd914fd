import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync, closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readdirSync, readSync, realpathSync, renameSync, rmSync, statSync, utimesSync, writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

/**
 * MJML's output on disk, by content hash, so that a second validate, plan or dispatch of an
 * unchanged campaign does not compile (or even load) MJML. The key covers everything MJML's
 * output depends on: the source as MJML receives it, every partial it includes (name and
 * text), the options, and the MJML version.
 *
 * The folder is <repository>/.marketer/cache, 0700, and each entry a 0600 file written under a
 * temporary name and renamed. An entry is used only if it is a regular file owned by this user
 * with no group or other permissions (what this code writes, never what a git checkout makes,
 * so a cache file committed in a pull request is ignored), and if its digest and key match:
 * a truncated or corrupt file is a miss and is compiled again. Entries are pruned oldest first
 * beyond MAX_ENTRIES or MAX_TOTAL_BYTES; reading an entry marks it as recently used.
 * The cache is an optimisation only: any error reading or writing it means compiling as if it
 * were not there.
 */

/** Bump when the entry format or what compile-template.ts derives from MJML's output changes. */
const FORMAT = 1;
const MAX_ENTRIES = 2_000;
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;
/** The example newsletter's entry is 19 KB; a 1 MB template gives 11 MB of HTML, not worth keeping. */
const MAX_ENTRY_BYTES = 4 * 1024 * 1024;
/** Prune on the first write of a process and every this many writes after. */
const PRUNE_EVERY = 200;
/** A temporary file older than this was left by a process that died while writing. */
const STALE_TEMP_MS = 3_600_000;

export interface CachedMjml {
  html: string;
  errors: { line: number; message: string; tagName: string }[];
}

export interface CompileCacheActivity {
  hits: number;
  misses: number;
  /** Entries present but not trusted (corrupt, truncated, wrong owner or mode). */
  rejected: number;
  writes: number;
}

const activity: CompileCacheActivity = { hits: 0, misses: 0, rejected: 0, writes: 0 };
let writesSincePrune: number | undefined;
const usable = new Map<string, boolean>();
let mjmlVersion: string | undefined;

export function compileCacheActivity(): CompileCacheActivity {
  return { ...activity };
}

/** Where a repository's compiled templates are kept. */
export function compileCacheDir(root: string): string {
  return path.join(root, '.marketer', 'cache');
}

export function compileCacheKey(input: { source: string; sources: { file: string; text: string }[]; options: Record<string, unknown> }): string {
  mjmlVersion ??= (createRequire(import.meta.url)('mjml/package.json') as { version: string }).version;
  const hash = createHash('sha256');
  // Lengths before each part, so that no two inputs run together into the same bytes.
  const part = (text: string) => hash.update(`${Buffer.byteLength(text)}:`).update(text);
  part(`marketer-mjml-cache ${FORMAT} mjml ${mjmlVersion}`);
  part(JSON.stringify(Object.entries(input.options).sort(([a], [b]) => (a < b ? -1 : 1))));
  part(input.source);
  for (const s of input.sources) {
    part(s.file);
    part(s.text);
  }
  return hash.digest('hex');
}

export function readCompileCache(root: string, key: string): CachedMjml | undefined {
  const dir = compileCacheDir(root);
  if (!cacheFolderUsable(root, dir)) {
    activity.misses++;
    return undefined;
  }
  const file = path.join(dir, `${key}.json`);
  let fd: number;
  try {
    // A symlink is not an entry (git can check one out): opening it fails, and the write after
    // the compile replaces it.
    fd = openSync(file, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
  } catch {
    activity.misses++;
    return undefined;
  }
  let text: string;
  try {
    const info = fstatSync(fd);
    if (!info.isFile() || !privateToUs(info) || info.size > MAX_ENTRY_BYTES + 1024) return reject(file);
    const buffer = Buffer.alloc(info.size);
    let read = 0;
    while (read < info.size) {
      const n = readSync(fd, buffer, read, info.size - read, read);
      if (n === 0) break;
      read += n;
    }
    text = buffer.subarray(0, read).toString('utf8');
  } catch {
    return reject(file);
  } finally {
    closeSync(fd);
  }
  const entry = parseEntry(text, key);
  if (!entry) return reject(file);
  activity.hits++;
  try {
    const now = new Date();
    utimesSync(file, now, now);
  } catch {
    // Only the pruning order depends on it.
  }
  return entry;
}

export function writeCompileCache(root: string, key: string, value: CachedMjml): void {
  const dir = compileCacheDir(root);
  const body = JSON.stringify({ format: FORMAT, key, html: value.html, errors: value.errors });
  if (body.length > MAX_ENTRY_BYTES || !cacheFolderUsable(root, dir)) return;
  const text = `${sha256(body)}\n${body}`;
  const file = path.join(dir, `${key}.json`);
  const temp = path.join(dir, `.${key}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    // wx: never follow or reuse something already at the temporary name.
    writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
    renameSync(temp, file);
    activity.writes++;
  } catch {
    rmSync(temp, { force: true });
    return;
  }
  writesSincePrune = writesSincePrune === undefined ? PRUNE_EVERY : writesSincePrune + 1;
  if (writesSincePrune >= PRUNE_EVERY) {
    writesSincePrune = 0;
    pruneCompileCache(root);
  }
}

/** Remove the least recently used entries beyond the limits, and stale temporary files. */
export function pruneCompileCache(root: string, limits: { maxEntries?: number; maxTotalBytes?: number } = {}): void {
  const dir = compileCacheDir(root);
  if (!cacheFolderUsable(root, dir)) return;
  const maxEntries = limits.maxEntries ?? MAX_ENTRIES;
  const maxTotalBytes = limits.maxTotalBytes ?? MAX_TOTAL_BYTES;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const entries: { file: string; size: number; used: number }[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    let info;
    try {
      info = lstatSync(file);
    } catch {
      continue;
    }
    if (name.endsWith('.tmp')) {
      if (Date.now() - info.mtimeMs > STALE_TEMP_MS) rmSync(file, { force: true });
      continue;
    }
    if (info.isFile() && /^[0-9a-f]{64}\.json$/.test(name)) entries.push({ file, size: info.size, used: info.mtimeMs });
  }
  entries.sort((a, b) => b.used - a.used);
  let total = 0;
  entries.forEach((e, i) => {
    total += e.size;
    if (i >= maxEntries || total > maxTotalBytes) rmSync(e.file, { force: true });
  });
}

function parseEntry(text: string, key: string): CachedMjml | undefined {
  const newline = text.indexOf('\n');
  if (newline !== 64) return undefined;
  const body = text.slice(65);
  if (sha256(body) !== text.slice(0, 64)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  const v = value as { format?: unknown; key?: unknown; html?: unknown; errors?: unknown };
  if (v.format !== FORMAT || v.key !== key || typeof v.html !== 'string' || !Array.isArray(v.errors)) return undefined;
  const errors: CachedMjml['errors'] = [];
  for (const e of v.errors as unknown[]) {
    const x = e as { line?: unknown; message?: unknown; tagName?: unknown } | null;
    if (!x || typeof x.line !== 'number' || typeof x.message !== 'string' || typeof x.tagName !== 'string') return undefined;
    errors.push({ line: x.line, message: x.message, tagName: x.tagName });
  }
  return { html: v.html, errors };
}

function reject(file: string): undefined {
  activity.rejected++;
  activity.misses++;
  // Replaced by the compile that follows; a file we may not trust is not left for the next run.
  try {
    if (privateToUs(lstatSync(file))) rmSync(file, { force: true });
  } catch {
    // It stays; it is ignored again next time.
  }
  return undefined;
}

/**
 * The folder exists (made here if not), is a real folder owned by this user with mode 0700, and
 * is inside the repository after symlinks: a `.marketer` symlinked elsewhere gets no cache.
 */
function cacheFolderUsable(root: string, dir: string): boolean {
  const known = usable.get(dir);
  if (known !== undefined) return known;
  let ok = false;
  try {
    const realRoot = realpathSync(root);
    const inside = (p: string) => {
      const rel = path.relative(realRoot, realpathSync(p));
      return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    };
    // .marketer with the default mode, as the embedded Postgres makes it: run as root, its
    // server runs as "postgres" and must be able to enter it. Only the cache folder is 0700.
    mkdirSync(path.dirname(dir), { recursive: true });
    if (inside(path.dirname(dir))) {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const info = lstatSync(dir);
      ok = info.isDirectory() && inside(dir) && ownedByUs(info);
      if (ok && process.platform !== 'win32' && (info.mode & 0o077) !== 0) {
        chmodSync(dir, 0o700);
        ok = (statSync(dir).mode & 0o077) === 0;
      }
    }
  } catch {
    ok = false;
  }
  usable.set(dir, ok);
  return ok;
}

function ownedByUs(info: { uid: number }): boolean {
  const uid = process.getuid?.();
  return uid === undefined || info.uid === uid;
}

function privateToUs(info: { uid: number; mode: number; isFile(): boolean }): boolean {
  return info.isFile() && ownedByUs(info) && (process.platform === 'win32' || (info.mode & 0o077) === 0);
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
