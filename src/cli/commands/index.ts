import type { Command } from 'commander';
import { registerDb } from './db.js';
import { registerDispatch } from './dispatch.js';
import { registerEvents } from './events.js';
import { registerImport } from './import.js';
import { registerInit } from './init.js';
import { registerPlan } from './plan.js';
import { registerPreview } from './preview.js';
import { registerSend } from './send.js';
import { registerServe } from './serve.js';
import { registerStats } from './stats.js';
import { registerValidate } from './validate.js';

/** Every command, in the order `marketer --help` lists them: the order of the work. */
export const commands: ((program: Command) => void)[] = [
  registerInit,
  registerImport,
  registerValidate,
  registerPreview,
  registerPlan,
  registerSend,
  registerDispatch,
  registerEvents,
  registerStats,
  registerServe,
  registerDb,
];
