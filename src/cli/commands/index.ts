import type { Command } from 'commander';
import { registerDb } from './db.js';
import { registerServe } from './serve.js';
import { registerValidate } from './validate.js';
import { registerPreview } from './preview.js';
import { registerEvents } from './events.js';
import { registerImport } from './import.js';
import { registerPlan } from './plan.js';
import { registerSend } from './send.js';
import { registerDispatch } from './dispatch.js';
import { registerStats } from './stats.js';
import { registerInit } from './init.js';

/** Every command, in the order `marketer --help` lists them. */
export const commands: ((program: Command) => void)[] = [
  registerInit,
  registerImport,
  registerPlan,
  registerSend,
  registerDispatch,
  registerDb,
  registerValidate,
  registerPreview,
  registerEvents,
  registerStats,
  registerServe,
];
