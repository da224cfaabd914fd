import { describe, expect, it } from 'vitest';
import { waveChart } from '../../src/cli/wave-chart.js';

const wave = (fire: string, count: number) => ({ local_time: '2026-12-01T08:00', fire_at: fire, timezones: ['UTC'], count, late: false, skipped: false });

describe('the pull-request summary\'s wave chart', () => {
  it('is a Mermaid bar chart of recipients per wave', () => {
    expect(waveChart([wave('2026-11-30T19:00:00.000Z', 120), wave('2026-12-01T07:00:00.000Z', 4500), wave('2026-12-01T13:00:00.000Z', 800)])).toEqual([
      '```mermaid',
      'xychart-beta',
      '  title "Recipients per wave (UTC fire time)"',
      '  x-axis ["11-30 19:00", "12-01 07:00", "12-01 13:00"]',
      '  y-axis "Recipients"',
      '  bar [120, 4500, 800]',
      '```',
      '',
    ]);
  });

  it('is left out for a single wave, and caps the bars for many', () => {
    expect(waveChart([wave('2026-12-01T07:00:00.000Z', 5)])).toEqual([]);
    const many = Array.from({ length: 40 }, (_, i) => wave(new Date(Date.UTC(2026, 11, 1, 0, i * 15)).toISOString(), i + 1));
    const chart = waveChart(many);
    expect(chart[2]).toContain('first 30 of 40');
    expect(chart[5]!.split(',')).toHaveLength(30);
  });
});
