import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

// The worker's whole program. Inline (not a file) so it runs the same from the built CLI and
// from the TypeScript sources under test; it loads mjml from the path resolved here, once, and
// then compiles every template it is sent, one at a time.
// mjml-core, when loaded, reads .mjmlconfig in the working directory and require()s the
// component packages it names: a pull request could add one and run code. The worker shows it a
// working directory that does not exist while it loads (compile options never name a config).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const realCwd = process.cwd;
process.cwd = () => workerData.loadCwd;
import(workerData.mjmlUrl).then((mod) => {
  process.cwd = realCwd;
  const mjml2html = mod.default;
  parentPort.on('message', async (job) => {
    try {
      const result = await mjml2html(job.source, job.options);
      parentPort.postMessage({ id: job.id, ok: true, html: result.html, errors: JSON.parse(JSON.stringify(result.errors || [])) });
    } catch (err) {
      const errors = Array.isArray(err && err.errors) ? JSON.parse(JSON.stringify(err.errors)) : undefined;
      parentPort.postMessage({ id: job.id, ok: false, message: String((err && err.message) || err), errors });
    }
  });
  parentPort.postMessage({ ready: true });
}, (err) => {
  process.cwd = realCwd;
  parentPort.postMessage({ ready: false, message: 'cannot load mjml: ' + String(err && err.message) });
});
`;

/**
 * How long one template may take to compile once MJML is loaded. The example newsletter takes
 * about 45 ms and a 1 MB template (the most a template file may hold) about 5 s on a 2-core VM;
 * past this the worker is stopped, so a template built to make MJML spin costs 30 s, not the
 * process.
 */
export const MJML_TIME_LIMIT_MS = 30_000;
/**
 * The worker's JavaScript heap. MJML loaded is about 40 MB of heap and a 1 MB template needs
 * about 110 MB more; a template that would need more (an include repeated thousands of times)
 * stops the worker with an out-of-memory error instead of taking a 1 GB machine down.
 */
export const MJML_HEAP_LIMIT_MB = 384;
/**
 * Idle time after which the worker exits and its memory (about 60 MB resident) goes back to
 * the system: a `validate` of many campaigns keeps one worker throughout, a long `dispatch`
 * does not carry MJML for hours after its campaigns compiled.
 */
export const MJML_IDLE_MS = 2_000;

export interface MjmlOutput {
  html: string;
  errors: unknown[];
}

interface Job {
  id: number;
  source: string;
  options: Record<string, unknown>;
  timeLimitMs: number;
  resolve: (out: MjmlOutput) => void;
  reject: (err: Error) => void;
}

type WorkerMessage =
  | { ready: true }
  | { ready: false; message: string }
  | { id: number; ok: true; html: string; errors: unknown[] }
  | { id: number; ok: false; message: string; errors?: unknown[] };

/** What MJML did in this process: for `validate --json` and the tests. */
export interface MjmlActivity {
  /** Times a worker loaded MJML. */
  loads: number;
  /** Templates MJML compiled (successfully or not). */
  compiles: number;
}

const activity: MjmlActivity = { loads: 0, compiles: 0 };

export function mjmlActivity(): MjmlActivity {
  return { ...activity };
}

let mjmlUrl: string | undefined;
let loadCwd = '';
let nextId = 1;
const queue: Job[] = [];
let current: { worker: Worker; ready: boolean; job: Job | undefined; timer: NodeJS.Timeout | undefined; idle: NodeJS.Timeout | undefined } | undefined;

/**
 * mjml2html in a worker thread that loads MJML once and serves every compile of the process.
 * Each compile has a time limit and the worker a heap limit: a template that exceeds either
 * stops the worker, fails with an error that says so, and the next compile starts a new one.
 * While nothing is being compiled the worker does not keep the process alive, and after
 * MJML_IDLE_MS it exits, which gives its memory back.
 */
export function runMjml(source: string, options: Record<string, unknown>, limits: { timeLimitMs?: number } = {}): Promise<MjmlOutput> {
  return new Promise((resolve, reject) => {
    queue.push({ id: nextId++, source, options, timeLimitMs: limits.timeLimitMs ?? MJML_TIME_LIMIT_MS, resolve, reject });
    pump();
  });
}

/** Whether a worker (and so MJML) is in memory now. */
export function mjmlWorkerRunning(): boolean {
  return current !== undefined;
}

/** Stop the worker now (it would stop by itself after MJML_IDLE_MS of idleness). */
export async function releaseMjml(): Promise<void> {
  const c = current;
  if (!c || c.job || queue.length > 0) return;
  current = undefined;
  clearTimeout(c.idle);
  await c.worker.terminate();
}

function pump(): void {
  if (queue.length === 0) return;
  const c = current ?? start();
  clearTimeout(c.idle);
  c.idle = undefined;
  c.worker.ref();
  if (!c.ready || c.job) return;
  const job = queue.shift()!;
  c.job = job;
  c.timer = setTimeout(() => {
    stop(c, new Error(`MJML took longer than ${formatSeconds(job.timeLimitMs)} on this template and was stopped`));
  }, job.timeLimitMs);
  c.worker.postMessage({ id: job.id, source: job.source, options: job.options });
}

function start(): NonNullable<typeof current> {
  if (!mjmlUrl) {
    const mjmlPath = createRequire(import.meta.url).resolve('mjml');
    mjmlUrl = pathToFileURL(mjmlPath).href;
    loadCwd = path.join(path.dirname(mjmlPath), 'no-such-folder-so-no-mjmlconfig');
  }
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { mjmlUrl, loadCwd },
    resourceLimits: { maxOldGenerationSizeMb: MJML_HEAP_LIMIT_MB },
  });
  const c: NonNullable<typeof current> = { worker, ready: false, job: undefined, timer: undefined, idle: undefined };
  current = c;
  worker.on('message', (m: WorkerMessage) => {
    if (current !== c) return;
    if ('ready' in m) {
      if (!m.ready) {
        // Nothing will load in a new worker either: fail what waits.
        stop(c, new Error(m.message), true);
        return;
      }
      c.ready = true;
      activity.loads++;
      pump();
      return;
    }
    const job = c.job;
    if (!job || job.id !== m.id) return;
    clearTimeout(c.timer);
    c.job = undefined;
    activity.compiles++;
    if (m.ok) job.resolve({ html: m.html, errors: m.errors });
    else job.reject(Object.assign(new Error(m.message), { errors: m.errors }));
    if (queue.length > 0) pump();
    else idle(c);
  });
  worker.on('error', (err) => {
    if (current !== c) return;
    const oom = (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY';
    stop(c, oom ? new Error(`MJML needed more than ${MJML_HEAP_LIMIT_MB} MB for this template and was stopped`) : err);
  });
  worker.on('exit', (code) => {
    if (current !== c) return;
    stop(c, new Error(`the MJML worker stopped (exit ${code})`));
  });
  return c;
}

/** Nothing to do: let the process exit if it wants to, and end the worker soon. */
function idle(c: NonNullable<typeof current>): void {
  c.worker.unref();
  c.idle = setTimeout(() => {
    if (current === c && !c.job && queue.length === 0) {
      current = undefined;
      void c.worker.terminate();
    }
  }, MJML_IDLE_MS);
  c.idle.unref();
}

/**
 * End a worker that failed or overran: its job (or, when MJML cannot load at all, every job
 * waiting) gets `err`; the rest go to a new worker.
 */
function stop(c: NonNullable<typeof current>, err: Error, all = false): void {
  if (current === c) current = undefined;
  clearTimeout(c.timer);
  clearTimeout(c.idle);
  const failed = c.job ? [c.job] : [];
  c.job = undefined;
  if (all || (!c.ready && failed.length === 0)) failed.push(...queue.splice(0));
  void c.worker.terminate();
  for (const job of failed) job.reject(err);
  if (queue.length > 0) pump();
}

function formatSeconds(ms: number): string {
  return ms >= 1000 ? `${ms / 1000} s` : `${ms} ms`;
}
