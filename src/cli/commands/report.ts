import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { isValidZone, machineZone } from '../../config/time-zones.js';
import { inputError, MarketerError } from '../../errors.js';
import { campaignReport } from '../../reports/campaign-report.js';
import { renderReportHtml } from '../../report-page/render-report-html.js';
import { commandContext, withDatabase } from '../context.js';
import { formatBytes } from '../format.js';
import { campaignIdOf } from './stats.js';

export async function reportAction(ref: string, opts: { out: string; tz?: string; hours: string; json?: boolean }, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  const tz = opts.tz ?? machineZone();
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
}
