import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';

// The worker's whole program. Inline (not a file) so it runs the same from the built CLI and
// from the TypeScript sources under test; it loads mjml from the path resolved here.
// mjml-core, when loaded, reads .mjmlconfig in the working directory and require()s the
// component packages it names: a pull request could add one and run code. The worker shows it a
// working directory that does not exist while it loads (compile options never name a config).
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const realCwd = process.cwd;
process.cwd = () => workerData.loadCwd;
import(workerData.mjmlUrl).then(async (mod) => {
  process.cwd = realCwd;
  const mjml2html = mod.default;
  try {
    const result = await mjml2html(workerData.source, workerData.options);
    parentPort.postMessage({ ok: true, html: result.html, errors: JSON.parse(JSON.stringify(result.errors || [])) });
  } catch (err) {
    const errors = Array.isArray(err && err.errors) ? JSON.parse(JSON.stringify(err.errors)) : undefined;
    parentPort.postMessage({ ok: false, message: String((err && err.message) || err), errors });
  }
}, (err) => {
  process.cwd = realCwd;
  parentPort.postMessage({ ok: false, message: 'cannot load mjml: ' + String(err && err.message) });
});
`;

let mjmlUrl: string | undefined;

/**
 * mjml2html in a worker thread. MJML and its dependencies take about 57 MB once loaded and are
 * needed once per campaign; in a worker that memory goes away when the worker exits, so a
 * long `send --wait` or `dispatch` does not carry it for hours.
 */
export function runMjml(source: string, options: Record<string, unknown>): Promise<{ html: string; errors: unknown[] }> {
  const mjmlPath = createRequire(import.meta.url).resolve('mjml');
  mjmlUrl ??= pathToFileURL(mjmlPath).href;
  const loadCwd = path.join(path.dirname(mjmlPath), 'no-such-folder-so-no-mjmlconfig');
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { source, options, mjmlUrl, loadCwd } });
    let settled = false;
    worker.once('message', (m: { ok: true; html: string; errors: unknown[] } | { ok: false; message: string; errors?: unknown[] }) => {
      settled = true;
      if (m.ok) resolve({ html: m.html, errors: m.errors });
      else reject(Object.assign(new Error(m.message), { errors: m.errors }));
      void worker.terminate();
    });
    worker.once('error', (err) => {
      if (!settled) reject(err);
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new Error(`the MJML worker stopped (exit ${code})`));
    });
  });
}
