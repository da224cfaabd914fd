/**
 * Rendering cost: MJML compile (cold and warm), the per-recipient render of the compiled
 * campaign (median and p99 over 100k recipients), and, in the same run, the naive way of
 * compiling MJML for every recipient, to show what compiling once buys.
 *
 *   node --import tsx bench/render.ts [recipients]
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { compileCampaign, loadCampaign, type RenderRecipient } from '../src/campaigns/index.js';
import { loadConfig } from '../src/config/config.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const RECIPIENTS = Number(process.argv[2] ?? 100_000);
const NAIVE_RECIPIENTS = 50;

const config = loadConfig({ cwd: root, env: { MARKETER_TRANSPORT: 'outbox', MARKETER_UNSUBSCRIBE_SECRET: 'bench-secret', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u' } });
const campaign = await loadCampaign(path.join(root, 'campaigns/weekly.yaml'), config);

const t0 = performance.now();
const compiled = await compileCampaign(campaign, config);
const cold = performance.now() - t0;
const warmRuns: number[] = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  await compileCampaign(campaign, config);
  warmRuns.push(performance.now() - t);
}
const warm = median(warmRuns);

const zones = ['Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Pacific/Chatham', 'UTC'];
const recipient = (i: number): RenderRecipient => ({
  subscriberId: String(1_000_000 + i),
  email: `user${i}@example.com`,
  first_name: i % 7 === 0 ? null : `Name${i}`,
  last_name: null,
  timezone: zones[i % zones.length] ?? 'UTC',
  attributes: i % 3 === 0 ? { company: `Company ${i}` } : {},
});

// Warm the JIT so the figures describe a long send, not the first thousand messages.
let sink = 0;
for (let i = 0; i < 2_000; i++) sink += compiled.render(recipient(i)).html.length;

const samples = new Float64Array(RECIPIENTS);
let bytes = 0;
for (let i = 0; i < RECIPIENTS; i++) {
  const r = recipient(i);
  const t = performance.now();
  const m = compiled.render(r);
  samples[i] = performance.now() - t;
  bytes += m.html.length + m.text.length;
}
samples.sort();
const renderMedianUs = (samples[Math.floor(RECIPIENTS * 0.5)] ?? 0) * 1000;
const renderP99Us = (samples[Math.floor(RECIPIENTS * 0.99)] ?? 0) * 1000;

// The naive way: compile MJML (and everything after it) for each recipient.
const naive: number[] = [];
for (let i = 0; i < NAIVE_RECIPIENTS; i++) {
  const t = performance.now();
  const c = await compileCampaign(campaign, config);
  sink += c.render(recipient(i)).html.length;
  naive.push(performance.now() - t);
}
const naiveMedianUs = median(naive) * 1000;

const fmt = (n: number, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
console.log(`campaign ${campaign.relFile} → ${campaign.relTemplate} (${fmt(bytes / RECIPIENTS / 1024)} KiB per message, HTML + text)`);
console.log(`MJML compile (whole campaign): cold ${fmt(cold)} ms, warm ${fmt(warm)} ms (median of ${warmRuns.length})`);
console.log(`per-recipient render over ${RECIPIENTS.toLocaleString('en-US')} recipients: median ${fmt(renderMedianUs, 2)} µs, p99 ${fmt(renderP99Us, 2)} µs`);
console.log(`naive (compile MJML per recipient), ${NAIVE_RECIPIENTS} recipients: median ${fmt(naiveMedianUs / 1000)} ms per recipient`);
console.log(`compile once is ${Math.round(naiveMedianUs / renderMedianUs).toLocaleString('en-US')}× cheaper per recipient (goal: ≥ 100×; render goal: < 50 µs median)`);
if (sink < 0) console.log(sink);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}
