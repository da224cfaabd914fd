import type { Command } from 'commander';
import { registerDb } from './db.js';
import { registerEvents } from './events.js';
import { registerImport } from './import.js';

/** Every command, in the order `marketer --help` lists them. */
export const commands: ((program: Command) => void)[] = [
  registerImport,
  registerDb,
  registerEvents,
];
