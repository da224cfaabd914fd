#!/usr/bin/env node
// CommonJS (bin/package.json says so): a CommonJS entry starts without Node's ES module loader,
// which neither --version, --help nor the CLI itself (dist/cli/cli.cjs, below) needs.
'use strict';
// The AWS SDK warns on every run that its 2027 releases will need Node 22; the
// lock file holds releases that support this Node, so the notice is noise in every CI log.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
// A reader that stops early (`marketer --help | head`) closes the pipe: that ends the output,
// quietly, as for any Unix tool, rather than with an EPIPE stack trace; any other failed write
// (a full disk) is one line and exit code 1 (./direct-output.js, for the streams and without them).
const guardStreams = () => require('./direct-output.js').guardStreams();
const args = process.argv.slice(2);
const version = () => {
  const { readFileSync } = require('node:fs');
  const path = require('node:path');
  return JSON.parse(readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')).version;
};
// The command the line names (skipping global options and the config file's name), or ''.
const commandName = () => {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-c' || args[i] === '--config') i += 1;
    else if (!args[i].startsWith('-')) return args[i];
  }
  return '';
};
// The CLI as one CommonJS file (scripts/bundle.mjs): for a line that names a command, the CLI
// with that command alone (dist/cli/command/<name>.cjs), else the whole one (dist/cli/cli.cjs).
// A build without that step (tsc alone) runs the same CLI from its ES modules.
const loadCli = () => {
  const { existsSync } = require('node:fs');
  const dir = require('node:path').join(__dirname, '..', 'dist', 'cli');
  const name = commandName();
  const own = /^[a-z]+(-[a-z]+)*$/.test(name) ? `${dir}/command/${name}.cjs` : undefined;
  const bundled = own && existsSync(own) ? own : `${dir}/cli.cjs`;
  // An error inside the bundle (a package it requires missing, say) is reported, not retried.
  if (!existsSync(bundled)) return import('../dist/cli/main.js');
  try {
    const say = process.env.MARKETER_DEBUG === 'startup' ? (line) => process.stderr.write(`${line}\n`) : () => {};
    say(`cli: ${bundled}`);
    // On a Node without a compile cache of its own, with V8's code of the last run of the
    // same command (bin/code-cache.js).
    return Promise.resolve(require('./code-cache.js').requireWithCodeCache(bundled, name, process.env, say));
  } catch (err) {
    return Promise.reject(err);
  }
};
const cli = () => {
  guardStreams();
  loadCli().then(({ main }) => main(process.argv)).then(
    (code) => { process.exitCode = code; },
    (err) => { console.error(err); process.exitCode = 1; },
  );
};
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // Answered from package.json alone: no CLI code to load for it.
  require('./direct-output.js').writeOut(`${version()}\n`);
} else {
  // Node 22.1+ keeps V8's compiled code of the CLI's modules between runs (in the system's
  // temporary folder, or NODE_COMPILE_CACHE); Node 20 has no such cache and skips this.
  require('node:module').enableCompileCache?.();
  if (args.some((a) => a === '--help' || a === '-h' || a === 'help')) {
    // Help, most likely. A plain help line (`--help`, `send --help`, `help db migrate`) is
    // answered from the help snapshot (dist/cli/fast-help.cjs); any other by the program's
    // definitions in one CommonJS file (dist/cli/quick-help.cjs) when commander agrees it is
    // help; any other line goes to the CLI proper. Neither prints anything when it declines.
    const snapshot = require('node:path').join(__dirname, '..', 'dist', 'cli', 'help-snapshot.json');
    if (!require('../dist/cli/fast-help.cjs').answerFromSnapshot(process.argv, snapshot, require('./direct-output.js'))) {
      guardStreams();
      require('../dist/cli/quick-help.cjs').answerHelp(process.argv, version()).then(
        (answered) => answered || cli(),
        (err) => { console.error(err); process.exitCode = 1; },
      );
    }
  } else {
    cli();
  }
}
