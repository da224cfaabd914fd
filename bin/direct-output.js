'use strict';
// Standard output for the answers bin/marketer.js gives without the CLI (--version, a help page
// from the snapshot), written straight to file descriptor 1. The first use of process.stdout
// builds a stream, which loads Node's stream and net modules: about 10 ms, as much as the rest
// of such an answer. And what a failed write means, with the streams (guardStreams) or without.
const fs = require('node:fs');

/**
 * Whether standard output is certainly no terminal: a pipe, a file, a socket, or /dev/null (where
 * hyperfine and most benchmarks send it), the one character device told apart here.
 */
function notATerminal() {
  try {
    const out = fs.fstatSync(1);
    return !out.isCharacterDevice() || out.rdev === fs.statSync('/dev/null').rdev;
  } catch {
    return false;
  }
}

/** The terminal's width in columns; undefined where standard output is no terminal. */
exports.columns = () => (notATerminal() ? undefined : process.stdout.columns);

/** One line on standard error for a write to `name` that failed (a full disk), if it can be written. */
function cannotWrite(name, err) {
  try {
    fs.writeSync(2, `marketer: cannot write to ${name}: ${err.message}\n`);
  } catch {
    // Nowhere left to say it.
  }
}

/**
 * A write that failed: a reader that has gone (EPIPE: `marketer --help | head -1`) ends the
 * output quietly, as for any Unix tool; anything else (a full disk) is one line and exit code 1.
 */
function failed(err) {
  if (err.code === 'EPIPE') return;
  process.exitCode = 1;
  cannotWrite('standard output', err);
}

/**
 * For process.stdout and process.stderr, once: a reader that has gone ends the output quietly
 * (the exit code so far), any other failed write is one line and exit code 1 (set up only where
 * the streams are used: writeOut does without them).
 */
let guarded = false;
exports.guardStreams = () => {
  if (guarded) return;
  guarded = true;
  for (const [stream, name] of [[process.stdout, 'standard output'], [process.stderr, 'standard error']]) {
    stream.on('error', (err) => {
      if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      cannotWrite(name, err);
      process.exit(1);
    });
  }
};

/**
 * Write `text` to standard output, all of it, before returning. A non-blocking descriptor that
 * is full (EAGAIN) gets the rest through process.stdout, which waits until it can write.
 */
exports.writeOut = (text) => {
  let rest = Buffer.from(text);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(fs.writeSync(1, rest));
    } catch (err) {
      if (err.code !== 'EAGAIN') return failed(err);
      exports.guardStreams();
      process.stdout.write(rest);
      return;
    }
  }
};
