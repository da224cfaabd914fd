import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';

export function registerStats(program: Command): void {
  program
    .command('stats')
    .description('Campaign results: deliveries, bounces, complaints, opens, clicks, links, waves, hourly timeline')
    .argument('[campaign]', 'campaign id or campaign YAML file (none: list every campaign)')
    .option('--json', 'print one JSON document')
    .option('--since <when>', 'count events from this time on: 2026-12-01, 2026-12-01T08:00 (in --tz) or a look-back like 24h, 7d')
    .option('--tz <zone>', 'time zone for the timeline and --since (default: this machine\'s)')
    .addHelpText(
      'after',
      `
Bounce and complaint rates at the lines mailbox providers use (hard bounces 5%, complaints
0.1% / 0.3%) are highlighted with advice.

Examples:
  $ marketer stats
  $ marketer stats 42
  $ marketer stats campaigns/weekly.yaml --tz Europe/Berlin --since 24h
  $ marketer stats 42 --json | jq .rates
`,
    )
    .action(lazyAction(() => import('../commands/stats.js'), (m) => m.statsAction));
}
