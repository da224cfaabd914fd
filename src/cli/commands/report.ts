import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { isValidZone } from '../../config/config.js';
import { inputError, MarketerError } from '../../errors.js';
import { campaignReport } from '../../reports/campaign-report.js';
import { renderReportHtml } from '../../report-page/render-report-html.js';
import { commandContext, withDatabase } from '../context.js';
import { formatBytes } from '../format.js';
import { campaignIdOf } from './stats.js';

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
    .action(async (ref: string, opts: { out: string; tz?: string; hours: string; json?: boolean }, cmd: Command) => {
      const ctx = commandContext(cmd);
      const tz = opts.tz ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC';
      if (!isValidZone(tz)) throw inputError('BAD_TZ', `--tz "${tz}" is not an IANA time zone.`, { hint: 'Use e.g. Europe/Berlin, America/New_York or UTC.' });
      const hours = Number(opts.hours);
      if (!Number.isInteger(hours) || hours < 1 || hours > 24 * 31) throw inputError('BAD_HOURS', `--hours must be a whole number from 1 to 744, got "${opts.hours}".`);
      const campaignId = campaignIdOf(ref);
      await withDatabase(ctx, async ({ db }) => {
        const report = await campaignReport(db, campaignId, { timezone: tz, hours });
        if (ctx.out.json) {
          ctx.out.printJson(report);
          return;
        }
        const html = renderReportHtml(report);
        if (opts.out === '-') {
          process.stdout.write(html);
          return;
        }
        const file = opts.out === 'report-<id>.html' ? `report-${campaignId}.html` : opts.out;
        try {
          writeFileSync(file, html);
        } catch (err) {
          throw new MarketerError('REPORT_WRITE', `Cannot write ${file}: ${(err as Error).message}`, { cause: err, hint: 'Pick another --out path.' });
        }
        ctx.out.info(`Wrote ${file} (${formatBytes(Buffer.byteLength(html))}): campaign ${campaignId}, times in ${tz}.`);
      });
    });
}
