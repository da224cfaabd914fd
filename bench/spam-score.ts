/**
 * SpamAssassin's score for the example campaign (campaigns/weekly.yaml) and the template that
 * `marketer init` scaffolds, as their MIME messages leave marketer, plus screenshots of the
 * example mail light, dark and with images blocked (Debian's Chromium, if installed).
 *
 *   node --import tsx bench/spam-score.ts
 *
 * Needs `apt-get install spamassassin` (and `chromium` for the screenshots). Runs
 * `spamassassin -L -t` (local tests only: no DNS blocklists, no network), so rules about our
 * markup and headers count, and reputation does not. The goal is 0.0 from our markup. The
 * screenshots go to .marketer/screenshots/mail/.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { compileCampaign, loadCampaign, SAMPLE_RECIPIENT } from '../src/campaigns/index.js';
import { loadConfig } from '../src/config/config.js';
import { buildMime } from '../src/sending/mime.js';
import { ROOT } from './lib.js';

const sa = spawnSync('spamassassin', ['--version'], { encoding: 'utf8' });
if (sa.status !== 0) {
  console.error('spamassassin is not installed: apt-get install -y spamassassin');
  process.exit(1);
}

async function message(repo: string, campaignFile: string): Promise<{ mime: string; html: string }> {
  const config = loadConfig({ cwd: repo, env: {} });
  const compiled = await compileCampaign(await loadCampaign(path.join(repo, campaignFile), config), config);
  const m = compiled.render(SAMPLE_RECIPIENT);
  const mime = buildMime({
    from: m.from, to: SAMPLE_RECIPIENT.email, replyTo: m.replyTo, subject: m.subject, html: m.html, text: m.text,
    headers: m.headers, messageId: `bench-${Date.now()}@example.com`, date: new Date(),
  });
  return { mime, html: m.html };
}

function score(name: string, mime: string): void {
  const r = spawnSync('spamassassin', ['-L', '-t'], { input: mime, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  const report = r.stdout.slice(r.stdout.indexOf('Content analysis details:'));
  const total = /X-Spam-Status: \w+, score=(-?[\d.]+)/.exec(r.stdout)?.[1] ?? '?';
  console.log(`\n${name}: score ${total}`);
  for (const line of report.split('\n').slice(1)) if (/^\s*-?\d+\.\d+ /.test(line) || /^\s{20,}\S/.test(line)) console.log(`  ${line.trim()}`);
}

// The scaffold, as `marketer init` writes it.
const scaffold = mkdtempSync(path.join(tmpdir(), 'marketer-spam-'));
cpSync(path.join(ROOT, 'scaffold'), scaffold, { recursive: true });

const example = await message(ROOT, 'campaigns/weekly.yaml');
score('example campaign (campaigns/weekly.yaml)', example.mime);
const scaffoldMail = await message(scaffold, 'campaigns/welcome.yaml');
score('scaffolded campaign (scaffold/campaigns/welcome.yaml)', scaffoldMail.mime);

// Screenshots: light, dark (prefers-color-scheme), and images blocked (every request refused,
// as a mail client that does not load remote images).
const chromium = ['/usr/bin/chromium', process.env.CHROMIUM_PATH].find((p) => p && spawnSync(p, ['--version']).status === 0);
if (!chromium) {
  console.log('\nNo Chromium: screenshots skipped (apt-get install -y chromium).');
} else {
  const { chromium: pw } = await import('playwright-core');
  const shots = path.join(ROOT, '.marketer', 'screenshots', 'mail');
  mkdirSync(shots, { recursive: true });
  const mails = [['example', example.html], ['scaffold', scaffoldMail.html]] as const;
  const browser = await pw.launch({ executablePath: chromium, args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    // Nothing leaves this machine: remote images are answered with a local stand-in of the
    // example's hero (1200 × 500, the campaign's placeholder), or refused as a client that
    // blocks images does.
    const maker = await browser.newPage({ viewport: { width: 1200, height: 500 } });
    await maker.setContent('<body style="margin:0"><div style="width:1200px;height:500px;background:#1d4ed8;color:#fff;font:700 96px sans-serif;display:flex;align-items:center;justify-content:center">Week 48</div></body>');
    const hero = await maker.screenshot({ type: 'png' });
    await maker.close();
    for (const [mail, html] of mails) {
      const file = path.join(scaffold, `${mail}.html`);
      writeFileSync(file, html);
      for (const [name, scheme, blockImages] of [['light', 'light', false], ['dark', 'dark', false], ['images-blocked', 'light', true]] as const) {
        for (const width of [640, 375]) {
          const page = await browser.newPage({ viewport: { width, height: 900 }, colorScheme: scheme });
          await page.route(/^https?:/, (route) => (blockImages || route.request().resourceType() !== 'image'
            ? route.abort()
            : route.fulfill({ status: 200, contentType: 'image/png', body: hero })));
          await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
          await page.screenshot({ path: path.join(shots, `${mail}-${name}-${width}.png`), fullPage: true });
          await page.close();
        }
      }
    }
  } finally {
    await browser.close();
  }
  console.log(`\nScreenshots: ${path.relative(ROOT, shots)}/{example,scaffold}-{light,dark,images-blocked}-{640,375}.png`);
}
