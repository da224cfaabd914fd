import { cpSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { compileCampaign, loadCampaign, SAMPLE_RECIPIENT } from '../../src/campaigns/index.js';
import { loadConfig } from '../../src/config/config.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

async function html(repo: string, file: string): Promise<string> {
  const config = loadConfig({ cwd: repo, env: { MARKETER_UNSUBSCRIBE_SECRET: 'test-secret', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u' } });
  return (await compileCampaign(await loadCampaign(path.join(repo, file), config), config)).render(SAMPLE_RECIPIENT).html;
}

function scaffold(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'marketer-scaffold-'));
  cpSync(path.join(ROOT, 'scaffold'), dir, { recursive: true });
  return dir;
}

// What a new user copies: the example campaign and the template `marketer init` writes.
describe.each([
  ['the example campaign', () => html(ROOT, 'campaigns/weekly.yaml')],
  ['the scaffolded campaign', () => html(scaffold(), 'campaigns/welcome.yaml')],
])('%s', (_name, render) => {
  it('declares its own dark styles, so that clients do not invert it, for the media query and Outlook', async () => {
    const h = await render();
    expect(h).toMatch(/<meta name="color-scheme" content="light dark"\s*\/?>/);
    expect(h).toMatch(/@media \(prefers-color-scheme: dark\)\s*\{[^}]*background: #0b1120 !important/);
    expect(h).toContain('[data-ogsc]');
    expect(h).toContain('[data-ogsb]');
  });

  it('uses system fonts only (nothing fetched on open) with a generic fallback', async () => {
    const h = await render();
    expect(h).not.toMatch(/fonts\.googleapis|@import url|<link[^>]+stylesheet/);
    for (const family of h.matchAll(/font-family:\s*([^;"]+)/g)) expect(family[1]!.trim()).toMatch(/sans-serif$/);
  });

  it('keeps the card corners round: the section under the card has the page colour, not white', async () => {
    const h = await render();
    const sections = [...h.matchAll(/<div\s+class="(page|card)" style="background:(#[0-9a-f]{6})/g)].map((m) => [m[1], m[2]]);
    expect(sections.at(-1)).toEqual(['page', '#f3f4f6']);
    expect(sections.some(([cls]) => cls === 'card')).toBe(true);
  });

  it('has no hidden text a spam filter reads as low contrast (white 1-pixel preheader)', async () => {
    expect(await render()).not.toMatch(/font-size:1px;color:#ffffff/);
  });
});

describe('the example campaign\'s hero image', () => {
  it('holds its space with width and height, and its alt text reads as a headline when images are blocked', async () => {
    const h = await html(ROOT, 'campaigns/weekly.yaml');
    const img = /<img alt="([^"]+)"[^>]*>/.exec(h);
    expect(img?.[1]).toBe('Week 48 at Example App: three things we shipped');
    expect(img![0]).toMatch(/width="600"/);
    expect(img![0]).toMatch(/height="250"/);
    expect(img![0]).toMatch(/color: #ffffff; font-family: -apple-system[^;]*sans-serif; font-weight: 700/);
    // Alt text is white: the image's container carries the image's own colour.
    expect(h).toMatch(/background-color:#1d4ed8/);
  });
});
