import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'vitest';
import { loadConfig, type Config } from '../../src/config/config.js';
import { MarketerError } from '../../src/errors.js';

/** A project folder in tmp from an inline file tree: { 'campaigns/a.yaml': '…' }. */
export function project(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'marketer-campaigns-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

export function configFor(dir: string, env: Record<string, string> = {}): Config {
  return loadConfig({ cwd: dir, env: { MARKETER_TRANSPORT: 'outbox', ...env } });
}

export const MARKETING_ENV = { MARKETER_UNSUBSCRIBE_SECRET: 'test-secret', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u' };

export const TEMPLATE = `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{ first_name | default('there') }}!</mj-text>
        <mj-button href="https://example.com/pricing">See pricing</mj-button>
        <mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;

export function campaignYaml(extra = ''): string {
  return `id: 7
name: Test campaign
subject: "Hi {{ first_name | default('there') }}"
from: "News <news@example.com>"
template: templates/t.mjml
${extra}`;
}

/** The problems a rejected campaign lists (it must be rejected as bad input, exit code 2). */
export async function problemsOf(promise: Promise<unknown>): Promise<string[]> {
  try {
    await promise;
  } catch (err) {
    expect(err).toBeInstanceOf(MarketerError);
    expect((err as MarketerError).exitCode).toBe(2);
    return (err as MarketerError).details;
  }
  throw new Error('expected the campaign to be rejected');
}
