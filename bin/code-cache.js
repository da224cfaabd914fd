'use strict';
/**
 * V8's compiled code of the CLI's file (dist/cli/cli.cjs, or a command's own), kept between runs
 * on a Node without a compile cache of its own. Node 22.1+ keeps one for every module
 * (module.enableCompileCache, which bin/marketer.js turns on); Node 20 compiles the file again at
 * every start (0.4–1.1 MB), and each function a command runs on first call. Here the file is compiled with the code V8 made for the
 * same command last time.
 *
 * Where: `$XDG_CACHE_HOME/marketer/code-cache` (default `~/.cache/…`), or `marketer/` in
 * `NODE_COMPILE_CACHE` when that is set. `NODE_DISABLE_COMPILE_CACHE=1` turns it off, as it does
 * Node's. The folder must be the user's own and writable by no one else, and each file the
 * user's own regular file; otherwise nothing is read or written. A file names the CLI file it
 * holds code for (path, size, inode, modification and change times), Node's version and the
 * command, and is used only for exactly that; V8 checks its own version and flags and rejects
 * what does not fit, and the CLI then compiles as without a cache and writes a new one at exit.
 * `MARKETER_DEBUG=startup` says on stderr what happened.
 *
 * Each install (its path) has a file per command it ran, ~1 MB each. A file in use has its
 * modification time brought up to date once a day, and whenever a file is written, those of the
 * folder unused for 30 days (an older install, an npx run, a removed checkout) are deleted.
 */
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { createRequire } = require('node:module');
const { isAscii } = require('node:buffer');

/** The private folder for the cache files, made if need be, or a reason why there is none. */
function privateFolder(env) {
  if (env.NODE_DISABLE_COMPILE_CACHE) return { off: 'NODE_DISABLE_COMPILE_CACHE is set' };
  let dir;
  try {
    dir = env.NODE_COMPILE_CACHE
      ? path.resolve(env.NODE_COMPILE_CACHE, 'marketer')
      : path.join(env.XDG_CACHE_HOME || path.join(require('node:os').homedir(), '.cache'), 'marketer', 'code-cache');
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(dir);
    if (!st.isDirectory()) return { off: `${dir} is not a folder` };
    if (process.getuid && st.uid !== process.getuid()) return { off: `${dir} belongs to another user` };
    if ((st.mode & 0o022) !== 0) return { off: `${dir} is writable by others` };
    return { dir };
  } catch (err) {
    return { off: `no cache folder (${err.code ?? err.message})` };
  }
}

/** 32-bit FNV-1a of a string, as 8 hex digits: a short file name for a long key. */
function fnv(text) {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}

const DAY_MS = 24 * 60 * 60 * 1000;
/** A file no run has used for this long is deleted when another is written. */
const UNUSED_MS = 30 * DAY_MS;
/** What this module writes into the folder: the cache files, and a file being written. */
const CACHE_FILE = /^[0-9a-f]{8}-[a-z-]+\.bin(\.\d+\.tmp)?$/;

/** Whether `st` is a regular file of this user's (a cache file may be used, or deleted). */
const ownFile = (st) => st.isFile() && !(process.getuid && st.uid !== process.getuid());

/** The cached code in `file` if it was made for `key` (and is the user's own file), else undefined. */
function readCache(file, key) {
  let data;
  let st;
  try {
    st = fs.lstatSync(file);
    if (!ownFile(st)) return undefined;
    data = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  if (data.length < 4) return undefined;
  const keyLength = data.readUInt32LE(0);
  if (4 + keyLength > data.length || data.toString('utf8', 4, 4 + keyLength) !== key) return undefined;
  // In use: not one of the unused files that pruneUnused deletes.
  if (Date.now() - st.mtimeMs > DAY_MS) {
    try {
      fs.utimesSync(file, new Date(), new Date());
    } catch {
      // A folder we may read but not change: the file is used all the same.
    }
  }
  return data.subarray(4 + keyLength);
}

/** Delete the folder's cache files that no run has used for UNUSED_MS; never anything else. */
function pruneUnused(dir) {
  try {
    for (const name of fs.readdirSync(dir)) {
      if (!CACHE_FILE.test(name)) continue;
      const file = path.join(dir, name);
      const st = fs.lstatSync(file, { throwIfNoEntry: false });
      if (st && ownFile(st) && Date.now() - st.mtimeMs > UNUSED_MS) fs.rmSync(file, { force: true });
    }
  } catch {
    // A folder that cannot be listed keeps its files; the cache itself still works.
  }
}

/** Write the file beside its place and rename it into it: a reader sees the old one or the new one. */
function writeCache(file, key, code) {
  const head = Buffer.alloc(4);
  const keyBytes = Buffer.from(key, 'utf8');
  head.writeUInt32LE(keyBytes.length, 0);
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, Buffer.concat([head, keyBytes, code]), { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch {
    fs.rmSync(tmp, { force: true });
  }
}

/**
 * The file's text. esbuild writes ASCII only, which read as Latin-1 is the same text, and Node
 * makes that string without decoding or copying (0.1 ms against 10–40 ms for UTF-8 here).
 */
function readSource(file) {
  const bytes = fs.readFileSync(file);
  return isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
}

/**
 * Load the CommonJS file `file` (dist/cli/cli.cjs, or a command's own file) as require() would, with the code cached for
 * `command`, and return its exports. `say` gets one line on what the cache did.
 */
function requireWithCodeCache(file, command, env, say) {
  // Node's own cache (22.1+) covers require().
  if (typeof require('node:module').enableCompileCache === 'function') return require(file);
  const folder = privateFolder(env);
  if (!folder.dir) {
    say(`code cache: off, ${folder.off}`);
    return require(file);
  }
  const st = fs.statSync(file);
  const key = JSON.stringify([file, st.size, st.ino, st.mtimeMs, st.ctimeMs, process.version, process.arch, command]);
  const cacheFile = path.join(folder.dir, `${fnv(file)}-${command.replace(/[^a-z-]/g, '') || 'none'}.bin`);
  const cachedData = readCache(cacheFile, key);
  // The wrapper Node puts around a CommonJS module, and the import() the bundle's loadPackage
  // uses (see scripts/bundle.mjs): code restored from a cache cannot run an import() of its own.
  const source = `(function (exports, require, module, __filename, __dirname, __marketerImport) { ${readSource(file)}\n});`;
  const script = new vm.Script(source, { filename: file, cachedData });
  const fresh = cachedData === undefined || script.cachedDataRejected === true;
  say(`code cache: ${cachedData === undefined ? 'none yet' : fresh ? 'rejected by V8' : 'used'} (${cacheFile})`);
  const mod = { exports: {}, id: file, filename: file, loaded: false };
  if (fresh) {
    // At exit, so that it holds the code of every function this run compiled; for the line
    // without a command (help, a usage error) and each of the CLI's commands, not for every
    // mistyped name.
    process.once('exit', () => {
      if (command === '' || (mod.exports.commandNames ?? []).includes(command)) {
        writeCache(cacheFile, key, script.createCachedData());
        pruneUnused(folder.dir);
      }
    });
  }
  script.runInThisContext().call(mod.exports, mod.exports, createRequire(file), mod, file, path.dirname(file), (specifier) => import(specifier));
  mod.loaded = true;
  return mod.exports;
}

module.exports = { requireWithCodeCache };
