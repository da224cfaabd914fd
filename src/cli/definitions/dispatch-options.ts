import type { Command } from 'commander';
import { MarketerError } from '../../errors.js';

const positive = (name: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new MarketerError('BAD_OPTION', `--${name} must be a positive number, got "${v}"`, { exitCode: 2 });
  return n;
};

/** The options send, dispatch and apply share. */
export function addDispatchOptions(cmd: Command): Command {
  return cmd
    .option('--concurrency <n>', 'requests to SES at once (default: concurrency in marketer.yaml, 16)', positive('concurrency'))
    .option('--rate <per-second>', 'messages per second (default: rate in marketer.yaml, else 80% of SES MaxSendRate)', positive('rate'))
    .option('--worker <name>', 'name of this worker in the ledger (default: host-pid)')
    .option('--allow-ephemeral-db', 'allow sending with the embedded database on a CI runner')
    .option('--json', 'print one JSON document at the end');
}

