import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DateTime } from 'luxon';
import type { CampaignReport } from '../reports/campaign-report.js';

let chartJs: string | undefined;

/**
 * Chart.js's browser build, read from the installed package so the report carries it inline:
 * the file opens with no network (its Content-Security-Policy forbids loading anything else).
 */
function chartLibrary(): string {
  if (chartJs === undefined) {
    const main = createRequire(import.meta.url).resolve('chart.js');
    chartJs = readFileSync(path.join(path.dirname(main), 'chart.umd.min.js'), 'utf8')
      .replace(/\n\/\/# sourceMappingURL=\S*\s*$/, '\n')
      .replace(/<\/script/gi, '<\\/script');
  }
  return chartJs;
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
const num = (n: number) => n.toLocaleString('en-US');
const pct = (r: number | null, digits = 1) => (r === null ? '–' : `${(r * 100).toFixed(digits)}%`);
const ratio = (a: number, b: number) => (b > 0 ? a / b : null);
/** JSON safe inside a <script> element: no "</script>", no "<!--". */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

function table(head: string[], rows: string[][], numericFrom = 1): string {
  const cell = (tag: 'th' | 'td', c: string, i: number) => `<${tag}${i >= numericFrom ? ' class="n"' : ''}>${c}</${tag}>`;
  return `<div class="scroll"><table><thead><tr>${head.map((h, i) => cell('th', esc(h), i)).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => cell('td', c, i)).join('')}</tr>`)
    .join('')}</tbody></table></div>`;
}

/** The report as one self-contained HTML page: inline styles, inline Chart.js, inline data. */
export function renderReportHtml(report: CampaignReport): string {
  const s = report.stats;
  const tz = s.timezone;
  const local = (iso: string, zone: string, fmt = 'ccc LLL d, HH:mm') => DateTime.fromISO(iso, { zone }).toFormat(fmt);
  const funnel = [
    ['Enqueued', s.recipients],
    ['Sent', s.sent],
    ['Delivered', s.delivered],
    ['Opened', s.opens.unique],
    ['Clicked', s.clicks.unique],
  ] as const;
  const outcomes = [
    ['Hard bounces', s.bounced.hard],
    ['Soft bounces', s.bounced.soft],
    ['Complaints', s.complained],
    ['Unsubscribes', s.unsubscribed],
    ['Failed', s.failed],
    ['Unknown', s.unknown],
    ['Skipped (late)', s.skippedBreakdown.late],
    ['Skipped (suppressed)', s.skippedBreakdown.suppressed],
  ] as const;
  const series = report.firstHours.series;
  const chartData = {
    funnel: { labels: funnel.map((f) => f[0]), values: funnel.map((f) => f[1]) },
    outcomes: { labels: outcomes.map((o) => o[0]), values: outcomes.map((o) => o[1]) },
    hours: {
      labels: series.map((h) => DateTime.fromISO(h.hour, { setZone: true }).toFormat('ccc HH:mm')),
      opens: series.map((h) => h.opens),
      clicks: series.map((h) => h.clicks),
    },
  };
  const cards = [
    ['Recipients', num(s.recipients), `${num(s.sent)} sent`],
    ['Delivered', pct(s.rates.delivery), `${num(s.delivered)} of sent`],
    ['Opened', pct(s.rates.open), `${num(s.opens.unique)} unique · ${num(s.opens.total)} total`],
    ['Clicked', pct(s.rates.click), `${num(s.clicks.unique)} unique · ${pct(s.rates.clickToOpen)} of openers`],
    ['Hard bounces', pct(s.rates.bounce, 2), `${num(s.bounced.hard)} of sent`, s.alerts.some((a) => a.metric === 'bounce') ? 'bad' : ''],
    ['Complaints', pct(s.rates.complaint, 2), `${num(s.complained)} of delivered`, s.alerts.some((a) => a.metric === 'complaint') ? 'bad' : ''],
  ];
  const holds = report.holds.length
    ? `<section class="notice"><h2>Sending held</h2><ul>${report.holds
        .map((h) => `<li><strong>${esc(h.kind)}</strong>: ${esc(h.reason)}${h.since ? ` <span class="dim">(since ${esc(local(h.since, tz))})</span>` : ''}</li>`)
        .join('')}</ul></section>`
    : '';
  const alerts = s.alerts.length
    ? `<section class="notice bad"><h2>Needs attention</h2><ul>${s.alerts
        .map((a) => `<li><strong>${esc(a.metric)} rate ${pct(a.rate, 2)}</strong> (line: ${pct(a.threshold, 1)}). ${esc(a.advice)}</li>`)
        .join('')}</ul></section>`
    : '';
  const waves = s.waves.length
    ? table(
        ['Wave (zone)', 'Local send time', 'Recipients', 'Delivered', 'Open rate', 'Click rate'],
        s.waves.map((w) => [
          esc(w.timezone),
          w.dueAt ? `<span class="t">${esc(local(w.dueAt, w.timezone))}</span>` : '–',
          num(w.recipients),
          num(w.delivered),
          pct(ratio(w.opened, w.delivered)),
          pct(ratio(w.clicked, w.delivered)),
        ]),
        2,
      )
    : '<p class="dim">No deliveries yet.</p>';
  const links = s.links.length
    ? table(['Link', 'Unique clicks', 'Clicks'], s.links.map((l) => [`<span class="url">${esc(l.url)}</span>`, num(l.unique), num(l.total)]))
    : '<p class="dim">No clicks yet.</p>';
  const reasons = (title: string, rows: { kind: string; reason: string; count: number }[], empty: string) =>
    `<h3>${esc(title)}</h3>${rows.length ? table(['Type', 'Reason', 'Count'], rows.map((r) => [esc(r.kind), `<span class="reason">${esc(r.reason || '–')}</span>`, num(r.count)]), 2) : `<p class="dim">${esc(empty)}</p>`}`;
  const hoursTable = table(
    [`Hour (${tz})`, 'Opens', 'Clicks'],
    series.filter((h) => h.opens + h.clicks > 0).map((h) => [esc(DateTime.fromISO(h.hour, { setZone: true }).toFormat('ccc LLL d, HH:mm')), num(h.opens), num(h.clicks)]),
  );
  const abTest = s.test
    ? `<section><h2>A/B test</h2><p>${esc(s.test.winner === null
        ? `Variants ${s.test.variants.join(', ')} on ${pct(s.test.share, 0)} of the audience; the winner is not chosen yet (${num(s.test.waiting)} deliveries wait for it).`
        : `Winner: ${s.test.winner}. ${s.test.note ?? ''}`)}</p>${table(
        ['Variant', 'Recipients', 'Delivered', 'Open rate', 'Click rate', 'In test', 'Test click rate'],
        s.variants.map((v) => [
          `${esc(v.name)}${v.winner ? ' <strong>(winner)</strong>' : v.default ? ' <span class="dim">(default)</span>' : ''}`,
          num(v.recipients), num(v.delivered), pct(v.rates.open), pct(v.rates.click), num(v.test.recipients), pct(v.test.rates.click),
        ]),
      )}</section>`
    : '';
  const title = `Campaign ${s.campaign}: ${s.name}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="robots" content="noindex">
<title>${esc(title)}</title>
<style>
:root{color-scheme:light dark;--bg:#f6f7f9;--card:#fff;--fg:#1d2330;--dim:#5d6675;--line:#e2e5ea;--accent:#2563eb;--bad:#b42318;--badbg:#fef3f2;--warnbg:#fffaeb}
@media (prefers-color-scheme:dark){:root{--bg:#111418;--card:#1a1f26;--fg:#e6e9ee;--dim:#9aa3b1;--line:#2c333d;--accent:#6ea0ff;--bad:#ff8a80;--badbg:#3a1d1b;--warnbg:#3a321b}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1120px;margin:0 auto;padding:24px 16px 48px}
h1{font-size:1.5rem;margin:0 0 4px}h2{font-size:1.1rem;margin:0 0 12px}h3{font-size:.95rem;margin:16px 0 8px}
.dim{color:var(--dim)}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:12px;margin:20px 0}
.card,section{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:14px 16px}
section{margin:16px 0}
.card .label{color:var(--dim);font-size:.85rem}.card .value{font-size:1.6rem;font-weight:650;font-variant-numeric:tabular-nums}.card .sub{color:var(--dim);font-size:.8rem}
.card.bad .value{color:var(--bad)}
.grid{display:grid;grid-template-columns:3fr 2fr;gap:16px}.grid section{margin:0;min-width:0}
@media (max-width:800px){.grid{grid-template-columns:1fr}}
.chart{position:relative;height:260px}.chart.tall{height:300px}
.notice{background:var(--warnbg)}.notice.bad{background:var(--badbg)}.notice ul{margin:0;padding-left:18px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--dim);font-size:.85rem}
.n,.t{text-align:right;white-space:nowrap}.t{text-align:left}
.url{word-break:break-all}.reason{overflow-wrap:anywhere}
@media (max-width:600px){main{padding:16px 10px 32px}.card,section{padding:12px 10px}th,td{padding:6px 5px;font-size:.85rem}}
details summary{cursor:pointer;color:var(--dim);margin-top:8px}
footer{color:var(--dim);font-size:.8rem;margin-top:24px}
</style>
</head>
<body>
<main>
<header>
<h1>${esc(title)}</h1>
<div class="dim">Status: ${esc(s.status)} · times in ${esc(tz)} · generated ${esc(local(report.generatedAt, tz, 'yyyy-LL-dd HH:mm ZZZZ'))}</div>
</header>
${holds}${alerts}
<div class="cards">${cards
    .map(([label, value, sub, cls]) => `<div class="card ${cls ?? ''}"><div class="label">${esc(label!)}</div><div class="value">${esc(value!)}</div><div class="sub">${esc(sub!)}</div></div>`)
    .join('')}</div>
<div class="grid">
<section><h2>Delivery funnel</h2><div class="chart"><canvas id="funnel" role="img" aria-label="${esc(funnel.map(([k, v]) => `${k} ${num(v)}`).join(', '))}"></canvas></div></section>
<section><h2>Problems and opt-outs</h2><div class="chart"><canvas id="outcomes" role="img" aria-label="${esc(outcomes.map(([k, v]) => `${k} ${num(v)}`).join(', '))}"></canvas></div></section>
</div>
<section><h2>Opens and clicks, first ${report.firstHours.hours} hours</h2>
<div class="dim">Per hour in ${esc(tz)}${report.firstHours.start ? `, from the first wave (${esc(local(report.firstHours.start, tz))})` : ''}.</div>
${series.length ? `<div class="chart tall"><canvas id="hours" role="img" aria-label="Opens and clicks per hour"></canvas></div><details><summary>Hours with activity</summary>${hoursTable}</details>` : '<p class="dim">No deliveries yet.</p>'}
</section>
${abTest}
<section><h2>Waves</h2>${waves}</section>
<section><h2>Clicks per link</h2>${links}</section>
<section><h2>Bounces, complaints and failures</h2>
${reasons('Bounces', report.problems.bounces, 'No bounces.')}
${reasons('Complaints', report.problems.complaints, 'No complaints.')}
${reasons('Failed sends', report.problems.failures, 'No failed sends.')}
</section>
<footer>marketer report · campaign ${s.campaign}</footer>
</main>
<script type="application/json" id="report-data">${scriptJson(chartData)}</script>
<script>${chartLibrary()}</script>
<script>
(function () {
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var css = getComputedStyle(document.documentElement);
  var fg = css.getPropertyValue('--dim').trim() || '#5d6675';
  var grid = css.getPropertyValue('--line').trim() || '#e2e5ea';
  Chart.defaults.color = fg;
  Chart.defaults.borderColor = grid;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  var common = { responsive: true, maintainAspectRatio: false, animation: false };
  function bars(id, labels, values, colors) {
    var el = document.getElementById(id);
    if (!el) return;
    new Chart(el, {
      type: 'bar',
      data: { labels: labels, datasets: [{ data: values, backgroundColor: colors, borderRadius: 4 }] },
      options: Object.assign({}, common, { indexAxis: 'y', plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } })
    });
  }
  bars('funnel', data.funnel.labels, data.funnel.values, ['#94a3b8', '#60a5fa', '#2563eb', '#16a34a', '#9333ea']);
  bars('outcomes', data.outcomes.labels, data.outcomes.values, ['#dc2626', '#f97316', '#b91c1c', '#a16207', '#64748b', '#94a3b8', '#cbd5e1', '#cbd5e1']);
  var hours = document.getElementById('hours');
  if (hours) {
    new Chart(hours, {
      type: 'bar',
      data: { labels: data.hours.labels, datasets: [
        { label: 'Opens', data: data.hours.opens, backgroundColor: '#2563eb' },
        { label: 'Clicks', data: data.hours.clicks, backgroundColor: '#9333ea' }
      ] },
      options: Object.assign({}, common, {
        interaction: { mode: 'index', intersect: false },
        scales: { x: { ticks: { autoSkip: true, maxRotation: 0 } }, y: { beginAtZero: true, ticks: { precision: 0 } } }
      })
    });
  }
})();
</script>
</body>
</html>
`;
}
