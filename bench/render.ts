/**
 * Rendering cost: the per-recipient render of the compiled campaign (median and p99 over 100k
 * recipients), and, in the same run, the naive way of compiling the campaign for every
 * recipient (with MJML already loaded and nothing taken from the compile cache), to show what
 * compiling once buys. Compile times themselves: bench/compile.ts. Then what the template
 * sandbox costs: the same per-recipient work (unsubscribe URL, subject, HTML, text) rendered by
 * the sandboxed Nunjucks and by plain Nunjucks from the same compiled HTML, in alternating
 * batches so that both see the same machine (a shared, busy one shifts figures by 10× from one
 * minute to the next).
 *
 *   node --import tsx bench/render.ts [recipients] [naive-recipients]
 */
import { loadavg } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { convert } from 'html-to-text';
import nunjucks from 'nunjucks';
import { compileCampaign, decorateLinks, loadCampaign, unsubscribeUrl, type RenderRecipient } from '../src/campaigns/index.js';
import { compileMjml } from '../src/campaigns/compile-template.js';
import { UTM_FILTER } from '../src/campaigns/decorate-links.js';
import { compileSandboxed, sandboxedEnvironment } from '../src/campaigns/sandbox.js';
import { loadConfig } from '../src/config/config.js';
import { median } from './lib.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const RECIPIENTS = Number(process.argv[2] ?? 100_000);
const NAIVE_RECIPIENTS = Number(process.argv[3] ?? 50);

const config = loadConfig({ cwd: root, env: { MARKETER_TRANSPORT: 'outbox', MARKETER_UNSUBSCRIBE_SECRET: 'bench-secret', MARKETER_UNSUBSCRIBE_URL: 'https://mail.example.com/u' } });
const campaign = await loadCampaign(path.join(root, 'campaigns/weekly.yaml'), config);

// The first compile loads MJML (its worker stays up while compiles follow), so the naive loop
// below pays for compiling only.
const compiled = await compileCampaign(campaign, config);

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

// The naive way: compile MJML (and everything after it) for each recipient. Each gets the
// template with its own comment, so the compile cache cannot answer. Half of the naive compiles
// run before the per-recipient renders and half after (A B A), so that a change in the machine's
// load hits both; mixing them finer would put the compiles' garbage collection into the renders.
// A comment unique to this run and recipient: no earlier run's cache entry can answer either.
const RUN = `${process.pid}-${Date.now()}`;
const naive: number[] = [];
async function naiveCompiles(from: number, to: number): Promise<void> {
  for (let k = from; k < to; k++) {
    const [first, ...partials] = campaign.sources;
    const uncached = { ...campaign, sources: [{ ...first!, text: `${first!.text}<!-- ${RUN} ${k} -->` }, ...partials] };
    const t = performance.now();
    const c = await compileCampaign(uncached, config);
    if (c.cached) throw new Error('the naive compile came from the cache');
    sink += c.render(recipient(k)).html.length;
    naive.push(performance.now() - t);
  }
}
await naiveCompiles(0, Math.floor(NAIVE_RECIPIENTS / 2));
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
await naiveCompiles(Math.floor(NAIVE_RECIPIENTS / 2), NAIVE_RECIPIENTS);
samples.sort();
const renderMedianUs = (samples[Math.floor(RECIPIENTS * 0.5)] ?? 0) * 1000;
const renderP99Us = (samples[Math.floor(RECIPIENTS * 0.99)] ?? 0) * 1000;
const naiveMedianUs = median(naive) * 1000;

// The sandbox, on and off, over the same compiled HTML and the same recipients.
const mjml = await compileMjml(campaign.sources[0]!.text, { templatePath: campaign.templatePath, relTemplate: campaign.relTemplate, root: config.root, sources: campaign.sources, preheader: campaign.preheader !== undefined });
const decorated = decorateLinks(mjml.html!, campaign.utm);
const textSource = convert(decorated.html, { wordwrap: false, selectors: [{ selector: 'img', format: 'skip' }, { selector: 'a', options: { hideLinkHrefIfSameAsText: true } }] });
const utmFilter = (v: unknown) => v;
interface Renderer { html: { render(c: object): string }; text: { render(c: object): string }; subject: { render(c: object): string } }
const sandboxOn = (() => {
  const html = sandboxedEnvironment({ autoescape: true, throwOnUndefined: false, filters: { [UTM_FILTER]: utmFilter } });
  const text = sandboxedEnvironment({ autoescape: false, throwOnUndefined: false, filters: { [UTM_FILTER]: utmFilter } });
  return { html: compileSandboxed(decorated.html, html), text: compileSandboxed(textSource, text), subject: compileSandboxed(campaign.subject, text) } satisfies Renderer;
})();
const sandboxOff = (() => {
  const html = new nunjucks.Environment([], { autoescape: true });
  const text = new nunjucks.Environment([], { autoescape: false });
  html.addFilter(UTM_FILTER, utmFilter);
  text.addFilter(UTM_FILTER, utmFilter);
  return { html: new nunjucks.Template(decorated.html, html, undefined, true), text: new nunjucks.Template(textSource, text, undefined, true), subject: new nunjucks.Template(campaign.subject, text, undefined, true) } satisfies Renderer;
})();
const renderWith = (t: Renderer, r: RenderRecipient) => {
  const context: Record<string, unknown> = {
    email: r.email, first_name: r.first_name ?? undefined, last_name: r.last_name ?? undefined, timezone: r.timezone, attributes: r.attributes,
    data: campaign.data, campaign: { id: campaign.id, name: campaign.name },
    unsubscribe_url: unsubscribeUrl('https://mail.example.com/u', 'bench-secret', { subscriberId: r.subscriberId, campaignId: campaign.id }),
  };
  context.subject = t.subject.render(context);
  context.preheader = '';
  return t.html.render(context).length + t.text.render(context).length;
};
for (let i = 0; i < 2_000; i++) sink += renderWith(sandboxOn, recipient(i)) + renderWith(sandboxOff, recipient(i));
const BATCH = 1_000;
const on: number[] = [];
const off: number[] = [];
for (let b = 0; b * BATCH < RECIPIENTS; b++) {
  // Alternate which variant goes first, so neither always follows the other's garbage.
  for (const [variant, into] of (b % 2 === 0 ? [[sandboxOn, on], [sandboxOff, off]] : [[sandboxOff, off], [sandboxOn, on]]) as [Renderer, number[]][]) {
    for (let i = b * BATCH; i < Math.min(RECIPIENTS, (b + 1) * BATCH); i++) {
      const r = recipient(i);
      const t = performance.now();
      sink += renderWith(variant, r);
      into.push(performance.now() - t);
    }
  }
}
const pct = (xs: number[], q: number) => ([...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)] ?? 0) * 1000;

const fmt = (n: number, digits = 1) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
console.log(`load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`campaign ${campaign.relFile} → ${campaign.relTemplate} (${fmt(bytes / RECIPIENTS / 1024)} KiB per message, HTML + text)`);
console.log(`per-recipient render over ${RECIPIENTS.toLocaleString('en-US')} recipients: median ${fmt(renderMedianUs, 2)} µs, p99 ${fmt(renderP99Us, 2)} µs`);
console.log(`naive (compile the campaign per recipient, MJML loaded), ${NAIVE_RECIPIENTS} recipients: median ${fmt(naiveMedianUs / 1000)} ms per recipient`);
console.log(`compile once is ${Math.round(naiveMedianUs / renderMedianUs).toLocaleString('en-US')}× cheaper per recipient (goal: ≥ 100×; render goal: < 50 µs median)`);
const onMedian = pct(on, 0.5);
const offMedian = pct(off, 0.5);
console.log(`sandbox on vs off, same HTML and recipients, alternating batches of ${BATCH.toLocaleString('en-US')} (${on.length.toLocaleString('en-US')} each): on median ${fmt(onMedian, 2)} µs, p99 ${fmt(pct(on, 0.99), 2)} µs; off median ${fmt(offMedian, 2)} µs, p99 ${fmt(pct(off, 0.99), 2)} µs`);
console.log(`the sandbox costs ${fmt(((onMedian - offMedian) / offMedian) * 100)}% per recipient (goal: ≤ 20%)`);
if (sink < 0) console.log(sink);
