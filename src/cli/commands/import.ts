import type { ReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import chalk from 'chalk';
import type { Command } from 'commander';
import { importSubscribers, type ImportResult } from '../../subscribers/import-subscribers.js';
import { openCsv } from '../../subscribers/read-csv.js';
import { openRejectsFile } from '../../subscribers/rejects-file.js';
import { commandContext, withDatabase } from '../context.js';
import { table } from '../output.js';
import { formatNumber, plural } from '../format.js';

interface ImportFlags {
  delimiter?: string;
  source?: string;
  tag: string[];
  dryRun?: boolean;
  strictTimezone?: boolean;
  rejectRisky?: boolean;
  rejects?: string;
  json?: boolean;
}

export async function importAction(file: string, flags: ImportFlags, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  // A --rejects file that is the input, a directory or unwritable fails before the input is
  // read; an unreadable or binary input fails before the database is touched.
  const rejects = flags.rejects ? await openRejectsFile(flags.rejects, file) : undefined;
  const input = await openCsv(file);
  await withDatabase(ctx, async ({ pool }) => {
    const progress = ctx.out.meter(`Importing ${path.basename(file)}`, 'rows');
    // Streamed, so the rows to come are unknown: the bytes read so far of the file's size say
    // how far along it is, and estimate the total.
    const size = (await stat(file)).size;
    let result: ImportResult;
    try {
      result = await importSubscribers(pool, {
        file,
        input,
        delimiter: flags.delimiter === 'tab' ? '\t' : flags.delimiter,
        source: flags.source,
        tags: flags.tag,
        dryRun: flags.dryRun,
        strictTimezone: flags.strictTimezone,
        rejectRisky: flags.rejectRisky,
        rejectsFile: rejects,
        defaultTimezone: ctx.config.defaultTimezone,
        onProgress: ({ rows, merging }) => {
          const fraction = merging ? 1 : (input as ReadStream).bytesRead / size;
          progress.update({ done: rows, total: merging ? rows : fraction > 0 ? Math.round(rows / fraction) : undefined, estimated: !merging, fraction, note: merging ? 'merging into subscribers…' : undefined });
        },
      });
    } finally {
      progress.done();
    }
    if (ctx.out.json) {
      ctx.out.printJson({
        inserted: result.inserted,
        updated: result.updated,
        unchanged: result.unchanged,
        suppressed: result.suppressed,
        rejected: result.rejected,
        warnings: result.warnings,
        duplicates: result.duplicates,
        rows: result.rows,
        dry_run: result.dryRun,
        rejects: result.rejects,
        warning_details: result.warningDetails,
        truncated: result.truncated,
      });
      return;
    }
    printSummary(ctx.out.info, file, result, flags.rejects);
  });
}

function printSummary(info: (l: string) => void, file: string, r: ImportResult, rejectsFile: string | undefined): void {
  info(`${r.dryRun ? chalk.yellow('Dry run, nothing written. ') : ''}${file}: ${plural(r.rows, 'row')} read.`);
  info(
    table([
      ['inserted', formatNumber(r.inserted)],
      ['updated', formatNumber(r.updated)],
      ['unchanged', formatNumber(r.unchanged)],
      ['suppressed', formatNumber(r.suppressed)],
      ['duplicates', formatNumber(r.duplicates)],
      ['rejected', formatNumber(r.rejected)],
      ['warnings', formatNumber(r.warnings)],
    ]),
  );
  const show = (title: string, list: { line: number; email: string; reason: string }[], colour: (s: string) => string) => {
    if (list.length === 0) return;
    info(`\n${colour(title)}`);
    for (const i of list.slice(0, 20)) info(`  line ${formatNumber(i.line)}: ${i.reason}${i.email ? ` (${i.email})` : ''}`);
    if (list.length > 20) info(`  … and ${formatNumber(list.length - 20)} more${rejectsFile ? '' : ' (use --rejects FILE or --json for all)'}`);
  };
  show('Rejected:', r.rejects, chalk.red);
  show('Warnings:', r.warningDetails, chalk.yellow);
  if (rejectsFile && r.rejected > 0) info(`\nRejected rows written to ${rejectsFile}.`);
}
