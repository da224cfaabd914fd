import type { PlanWave } from '../sending/plan-campaign.js';

// Beyond this many waves a bar chart's labels overlap; the table below it lists them all.
const MAX_BARS = 30;

/**
 * Recipients per wave as a Mermaid bar chart (GitHub renders Mermaid blocks in Markdown,
 * job summaries included). The table that follows it in the summary stays the full record,
 * for readers whose viewer shows the block as code.
 */
export function waveChart(waves: PlanWave[]): string[] {
  if (waves.length < 2) return [];
  const shown = waves.slice(0, MAX_BARS);
  // Labels are the waves' UTC fire times (the local time is the same for every wave).
  const label = (w: PlanWave) => `"${w.fire_at.slice(5, 16).replace('T', ' ').replace(/"/g, '')}"`;
  return [
    '```mermaid',
    'xychart-beta',
    `  title "Recipients per wave (UTC fire time)${waves.length > MAX_BARS ? `, first ${MAX_BARS} of ${waves.length}` : ''}"`,
    `  x-axis [${shown.map(label).join(', ')}]`,
    '  y-axis "Recipients"',
    `  bar [${shown.map((w) => w.count).join(', ')}]`,
    '```',
    '',
  ];
}
