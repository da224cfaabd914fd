'use strict';
/**
 * V8's compiled code of dist/cli/cli.cjs, kept between runs on a Node without a compile cache of
 * its own. Node 22.1+ keeps one for every module (module.enableCompileCache, which
 * bin/marketer.js turns on); Node 20 compiles the CLI's 1.1 MB again at every start, and each
 * function a command runs on first call. Here the file is compiled with the code V8 made for the
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

/** The cached code in `file` if it was made for `key` (and is the user's own file), else undefined. */
function readCache(file, key) {
  let data;
  try {
    const st = fs.lstatSync(file);
    if (!st.isFile() || (process.getuid && st.uid !== process.getuid())) return undefined;
    data = fs.readFileSync(file);
  } catch {
    return undefined;
  }
  if (data.length < 4) return undefined;
  const keyLength = data.readUInt32LE(0);
  if (4 + keyLength > data.length || data.toString('utf8', 4, 4 + keyLength) !== key) return undefined;
  return data.subarray(4 + keyLength);
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
 * Load the CommonJS file `file` (dist/cli/cli.cjs) as require() would, with the code cached for
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
      if (command === '' || (mod.exports.commandNames ?? []).includes(command)) writeCache(cacheFile, key, script.createCachedData());
    });
  }
  script.runInThisContext().call(mod.exports, mod.exports, createRequire(file), mod, file, path.dirname(file), (specifier) => import(specifier));
  mod.loaded = true;
  return mod.exports;
}

module.exports = { requireWithCodeCache };
