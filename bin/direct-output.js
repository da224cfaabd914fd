'use strict';
// Standard output for the answers bin/marketer.js gives without the CLI (--version, a help page
// from the snapshot), written straight to file descriptor 1. The first use of process.stdout
// builds a stream, which loads Node's stream and net modules: about 10 ms, as much as the rest
// of such an answer.
const fs = require('node:fs');

/** Whether standard output is certainly no terminal: a pipe, a file or a socket. */
function notATerminal() {
  try {
    return !fs.fstatSync(1).isCharacterDevice();
  } catch {
    return false;
  }
}

/** The terminal's width in columns; undefined where standard output is no terminal. */
exports.columns = () => (notATerminal() ? undefined : process.stdout.columns);

/**
 * Write `text` to standard output, all of it, before returning. A reader that has gone (EPIPE:
 * `marketer --help | head -1`) ends the output quietly, as for any Unix tool; anything else
 * writeSync cannot do (a non-blocking descriptor that is full, say) is left to process.stdout.
 */
exports.writeOut = (text) => {
  let rest = Buffer.from(text);
  while (rest.length > 0) {
    try {
      rest = rest.subarray(fs.writeSync(1, rest));
    } catch (err) {
      if (err.code === 'EPIPE') return;
      process.stdout.on('error', (e) => {
        if (e.code !== 'EPIPE') throw e;
      });
      process.stdout.write(rest);
      return;
    }
  }
};
