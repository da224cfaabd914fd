import { existsSync } from 'node:fs';
import path from 'node:path';
import chalk from 'chalk';
import type { Command } from 'commander';
import { checkCampaigns } from '../../campaigns/index.js';
import type { Config } from '../../config/config.js';
import { createDnsLookup } from '../../doctor/dns-lookup.js';
import { runDoctor } from '../../doctor/run-doctor.js';
import { sqsQueueReader } from '../../doctor/sqs-queue-reader.js';
import type { DoctorCheck, DoctorReport } from '../../doctor/types.js';
import type { SenderCampaign } from '../../sending/sender-domains.js';
import { SesSetup } from '../../sending/ses-account.js';
import { commandContext, ReportedExit, type CommandContext } from '../context.js';
import { byCount, plural } from '../format.js';

export async function doctorAction(paths: string[], opts: { json?: boolean }, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  const campaigns = await senderCampaigns(ctx, paths);
  const ses = new SesSetup({ region: ctx.config.awsRegion, endpoint: ctx.config.sesEndpoint });
  let report: DoctorReport;
  try {
    report = await runDoctor(ctx.config, campaigns, { ses, dns: createDnsLookup(ctx.config.dnsServers), queue: sqsQueueReader(ctx.config.awsRegion) });
  } finally {
    ses.close();
  }
  if (ctx.out.json) ctx.out.printJson(report);
  else printReport(ctx, report);
  if (!report.ok) throw new ReportedExit(1);
}

/**
 * The From addresses and transactional flags of the campaigns. Their unsubscribe setup is read
 * as for the outbox so that a missing secret (which the unsubscribe check reports) does not hide
 * every campaign's domain; files with other problems are named and left out.
 */
async function senderCampaigns(ctx: CommandContext, paths: string[]): Promise<SenderCampaign[]> {
  if (paths.length === 0 && !existsSync(path.join(ctx.config.root, 'campaigns'))) return [];
  const lenient: Config = { ...ctx.config, transport: 'outbox' };
  const report = await checkCampaigns(paths, lenient);
  const files = new Set(report.problems.map((p) => p.file));
  if (files.size > 0) ctx.out.warn(`${plural(files.size, 'campaign file')} ${byCount(files.size, 'has', 'have')} problems and ${byCount(files.size, 'is', 'are')} not checked (marketer validate shows them): ${[...files].join(', ')}`);
  return report.campaigns.map((c) => ({ id: c.id, from: c.from, transactional: c.transactional }));
}

const MARK = { ok: chalk.green('✓'), warn: chalk.yellow('!'), error: chalk.red('✗') };

function section(c: DoctorCheck): string {
  if (c.domain) return `From domain ${c.domain}`;
  if (c.configuration_set !== undefined) return c.configuration_set ? `Configuration set ${c.configuration_set}` : 'Configuration sets';
  if (c.id.startsWith('ses.')) return 'SES account';
  if (c.id === 'configuration_set' || c.id === 'configuration_set.events') return 'Configuration sets';
  if (c.id === 'sqs.queue') return 'Events';
  return 'Unsubscribe';
}

function printReport(ctx: CommandContext, report: DoctorReport): void {
  if (ctx.config.transport === 'outbox') ctx.out.info(chalk.dim('transport is outbox: send writes .eml files; these checks are for sending through SES.\n'));
  let current = '';
  for (const c of report.checks) {
    const s = section(c);
    if (s !== current) {
      if (current) ctx.out.info('');
      ctx.out.info(chalk.bold(s));
      current = s;
    }
    ctx.out.info(`  ${MARK[c.status]} ${c.id}: ${c.detail}`);
    if (c.status !== 'ok' && c.fix) ctx.out.info(`      ${chalk.cyan('fix')} ${c.fix}`);
  }
  const errors = report.checks.filter((c) => c.status === 'error').length;
  const warnings = report.checks.filter((c) => c.status === 'warn').length;
  ctx.out.info('');
  const counts = `${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
  ctx.out.info(errors > 0 ? chalk.red(`${counts}: fix the ✗ before sending.`) : warnings > 0 ? chalk.yellow(`${counts}: ready to send; the ! cost deliverability.`) : chalk.green('Every check passed.'));
}
