import type { Command } from 'commander';
import { registerDb } from './db.js';

/** Every command, in the order `marketer --help` lists them. */
export const commands: ((program: Command) => void)[] = [
  registerDb,
];
