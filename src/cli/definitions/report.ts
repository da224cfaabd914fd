import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('Write a campaign report as one HTML file with charts: funnel, opens and clicks over the first 72 hours, waves, links, bounce and complaint reasons, holds')
    .argument('<campaign>', 'campaign id or campaign YAML file')
    .option('--out <file>', 'where to write the HTML ("-" for stdout)', 'report-<id>.html')
    .option('--tz <zone>', "time zone of the hourly chart (default: this machine's)")
    .option('--hours <n>', 'length of the hourly chart', '72')
    .option('--json', 'print the report data as one JSON document instead of writing HTML')
    .addHelpText(
      'after',
      `
The file needs no network to open: styles, data and the chart library are inside it.

Examples:
  $ marketer report 42
  $ marketer report campaigns/weekly.yaml --tz America/New_York --out weekly.html
  $ marketer report 42 --json | jq .problems.bounces
`,
    )
    .action(lazyAction(() => import('../commands/report.js'), (m) => m.reportAction));
}
