import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPath, launchChromium, screenshotDir } from '../helpers/chromium.js';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { seedDecemberCampaign } from '../fixtures/ses/december-campaign.js';
import { jsonl } from '../fixtures/ses/records.js';

/**
 * The report in a real browser: Debian's Chromium, headless, offline. Screenshots at desktop
 * and phone widths land in .marketer/screenshots/report/ for people to look at.
 */
const executable = chromiumPath();
if (!executable) console.warn('NOTICE: no Chromium installed (apt-get install chromium): the report browser test is skipped.');

let t: TestDb;
const dir = mkdtempSync(path.join(tmpdir(), 'marketer-report-browser-'));
const file = path.join(dir, 'report.html');

describe.skipIf(!executable)('the report in Chromium', () => {
  beforeAll(async () => {
    t = await createTestDb();
    const records = await seedDecemberCampaign(t.db);
    writeFileSync(path.join(dir, 'c7.jsonl'), jsonl(records));
    await runCli(['events', 'ingest', path.join(dir, 'c7.jsonl')], { env: { DATABASE_URL: t.url } });
    const r = await runCli(['report', '7', '--out', file, '--tz', 'Europe/Berlin'], { env: { DATABASE_URL: t.url } });
    expect(r.code).toBe(0);
  }, 120_000);

  afterAll(async () => {
    await t?.close();
  });

  it('draws every chart without console errors or requests, at 1200 and 375 px', async () => {
    const browser = await launchChromium(executable!);
    const shots = screenshotDir('report');
    mkdirSync(shots, { recursive: true });
    try {
      for (const width of [1200, 375]) {
        const page = await browser.context.newPage();
        await page.setViewportSize({ width, height: 900 });
        const problems: string[] = [];
        page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
        page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
        page.on('request', (req) => { if (!req.url().startsWith('file:') && !req.url().startsWith('data:')) problems.push(`request: ${req.url()}`); });
        await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
        // Nothing wider than the screen: the page does not scroll sideways on a phone.
        expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(width);
        await page.screenshot({ path: path.join(shots, `report-${width}.png`), fullPage: true });
        // Measured after the full-page screenshot, which resizes the viewport: charts must
        // settle into their cards after a resize too.
        // Each canvas has been drawn on: some pixels are not transparent.
        // Run in the page, as a string: the test project has no DOM types (its fetch is Node's).
        const drawn = (await page.evaluate(`[...document.querySelectorAll('canvas')].map((c) => {
          const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
          let painted = 0;
          for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted += 1;
          // Inside its card: a chart that spills over the card's edge is cut off or overlaps.
          const card = c.closest('section').getBoundingClientRect();
          const box = c.getBoundingClientRect();
          return { id: c.id, painted, width: box.width, inside: box.left >= card.left && box.right <= card.right };
        })`)) as { id: string; painted: number; width: number; inside: boolean }[];
        expect(drawn.map((d) => d.id)).toEqual(['funnel', 'outcomes', 'hours']);
        for (const d of drawn) {
          expect(d.painted, `${d.id} at ${width}px`).toBeGreaterThan(1000);
          expect(d.width).toBeLessThanOrEqual(width);
          expect(d.inside, `${d.id} inside its card at ${width}px`).toBe(true);
        }
        expect(problems).toEqual([]);
        await page.close();
      }
    } finally {
      await browser.close();
    }
  }, 120_000);
});
