import type { Command } from 'commander';
import { compileCampaign, loadCampaign } from '../../campaigns/index.js';
import { createMailer } from '../../sending/create-mailer.js';
import { planCampaign } from '../../sending/plan-campaign.js';
import { commandContext, withDatabase, type CommandContext } from '../context.js';
import { formatPlan } from '../format-sending.js';

export function registerPlan(program: Command): void {
  program
    .command('plan')
    .description('Show what sending a campaign would do, touching nothing: audience, waves, quota, compliance')
    .argument('<campaign.yaml>', 'campaign file')
    .option('--json', 'print one JSON document')
    .addHelpText('after', `
Waves: with schedule.timezone "subscriber", everyone gets the mail at schedule.at in their own
zone, so one campaign fires in as many UTC waves as there are offsets in the list.

Examples:
  $ marketer plan campaigns/weekly.yaml
  $ marketer plan campaigns/weekly.yaml --json | jq '.waves[] | [.fire_at, .count]'`)
    .action(async (file: string, _flags: unknown, cmd: Command) => {
      await runPlan(commandContext(cmd), file);
    });
}

export async function runPlan(ctx: CommandContext, file: string): Promise<void> {
  const campaign = await loadCampaign(file, ctx.config);
  const compiled = await compileCampaign(campaign, ctx.config);
  const mailer = createMailer(ctx.config, { concurrency: 1 });
  try {
    await withDatabase(ctx, async ({ db }) => {
      const plan = await planCampaign(db, compiled, mailer, new Date());
      if (ctx.out.json) ctx.out.printJson(plan);
      else ctx.out.info(formatPlan(plan));
    });
  } finally {
    await mailer.close();
  }
}
