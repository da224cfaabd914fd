import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileMjml } from '../../src/campaigns/compile-template.js';
import { mjmlActivity, mjmlWorkerRunning, runMjml } from '../../src/campaigns/run-mjml.js';
import { project, TEMPLATE } from './fixtures.js';

const DIST_RUN_MJML = fileURLToPath(new URL('../../dist/campaigns/run-mjml.js', import.meta.url));

/**
 * A template of a few hundred bytes that MJML expands into 2^depth copies of a partial: each
 * partial includes the next one twice. Every file is small and every include is confined, so
 * only the time limit stands between it and a process that never finishes.
 */
function includeBomb(depth: number): { dir: string; source: string } {
  const dir = project({});
  mkdirSync(path.join(dir, 'p'));
  for (let i = 0; i < depth; i++) {
    const body = i === depth - 1 ? '<mj-text>ha ha ha ha</mj-text>' : `<mj-include path="./p${i + 1}.mjml" /><mj-include path="./p${i + 1}.mjml" />`;
    writeFileSync(path.join(dir, `p/p${i}.mjml`), body);
  }
  const source = '<mjml><mj-body><mj-section><mj-column><mj-include path="./p/p0.mjml" /></mj-column></mj-section></mj-body></mjml>';
  writeFileSync(path.join(dir, 't.mjml'), source);
  return { dir, source };
}

const options = (dir: string) => ({ templatePath: path.join(dir, 't.mjml'), relTemplate: 't.mjml', root: dir, sources: [], preheader: false });

describe('the MJML worker', () => {
  it('stops a template that makes MJML run past its time limit, and the next template compiles', async () => {
    const bomb = includeBomb(18);
    const before = mjmlActivity();
    const result = await compileMjml(bomb.source, { ...options(bomb.dir), timeLimitMs: 1_500 });
    expect(result.html).toBeUndefined();
    expect(result.problems).toEqual([
      { file: 't.mjml', line: 1, col: 1, message: 'MJML could not compile the template: MJML took longer than 1.5 s on this template and was stopped' },
    ]);

    const good = project({ 't.mjml': TEMPLATE });
    const next = await compileMjml(TEMPLATE, options(good));
    expect(next.problems).toEqual([]);
    expect(next.html).toContain('See pricing');
    // The overrunning worker was ended and a new one loaded MJML.
    expect(mjmlActivity().loads).toBeGreaterThan(before.loads);
  });

  it('compiles many templates with MJML loaded once', async () => {
    // A compile first, so the worker is up whatever the tests before left.
    await runMjml(TEMPLATE, { validationLevel: 'soft' });
    const before = mjmlActivity();
    const outputs = await Promise.all(Array.from({ length: 6 }, (_, i) => runMjml(TEMPLATE.replace('Hello', `Hello ${i}`), { validationLevel: 'soft' })));
    outputs.forEach((o, i) => expect(o.html).toContain(`Hello ${i}`));
    expect(mjmlActivity()).toEqual({ loads: before.loads, compiles: before.compiles + 6 });
  });

  it('ends the worker when idle, giving its memory back', async () => {
    await runMjml(TEMPLATE, { validationLevel: 'soft' });
    expect(mjmlWorkerRunning()).toBe(true);
    for (let i = 0; i < 200 && mjmlWorkerRunning(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(mjmlWorkerRunning()).toBe(false);
    // And comes back when needed.
    expect((await runMjml(TEMPLATE, { validationLevel: 'soft' })).html).toContain('See pricing');
  });

  it('does not keep the process alive once a compile is done', async () => {
    // The built module in a process of its own: after the compile, nothing of the worker may be
    // among the resources that keep Node's event loop running.
    const script = `
      import { runMjml } from ${JSON.stringify(pathToFileURL(DIST_RUN_MJML).href)};
      const pending = runMjml(${JSON.stringify(TEMPLATE)}, { validationLevel: 'soft' });
      const during = process.getActiveResourcesInfo();
      const { html } = await pending;
      console.log(JSON.stringify({ during, after: process.getActiveResourcesInfo(), ok: html.includes('See pricing') }));
    `;
    const file = path.join(project({}), 'compile-once.mjs');
    writeFileSync(file, script);
    const child = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(err).toBe('');
    expect(code).toBe(0);
    const report = JSON.parse(out) as { during: string[]; after: string[]; ok: boolean };
    expect(report.ok).toBe(true);
    // While compiling, the worker's port holds the process open (so a pending compile is not cut off).
    expect(report.during).toContain('MessagePort');
    expect(report.after).not.toContain('MessagePort');
    expect(report.after).not.toContain('Timeout');
  });
});
