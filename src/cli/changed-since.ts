import path from 'node:path';
import chalk from 'chalk';
import { changedCampaigns, type ChangedCampaigns } from '../campaigns/changed-campaigns.js';
import type { CommandContext } from './context.js';
import { plural } from './format.js';

/** The campaigns changed since `base`, announced on stdout (stderr is for problems). */
export async function campaignsChangedSince(ctx: CommandContext, paths: string[], base: string): Promise<ChangedCampaigns> {
  const changed = await changedCampaigns({ root: ctx.config.root, base, scope: paths.map((p) => path.resolve(p)) });
  const short = changed.base.slice(0, 12);
  if (changed.campaigns.length === 0) ctx.out.info(`No campaign changed since ${short}.`);
  else {
    ctx.out.info(`${plural(changed.campaigns.length, 'campaign')} changed since ${short}:`);
    for (const c of changed.campaigns) {
      const how = c.change === 'renamed' ? `renamed from ${c.from}` : c.change === 'template' ? `template changed: ${(c.via ?? []).join(', ')}` : c.change === 'segment' ? `segment changed: ${(c.via ?? []).join(', ')}` : c.change;
      ctx.out.info(`  ${c.relFile} ${chalk.dim(`(${how})`)}`);
    }
  }
  for (const d of changed.deleted) ctx.out.info(chalk.dim(`  ${d} (removed; nothing is sent for it)`));
  return changed;
}

/** The `changed` member of the JSON documents: paths relative to the config root. */
export function changedJson(c: ChangedCampaigns) {
  return {
    base: c.base,
    head: c.head,
    campaigns: c.campaigns.map((x) => ({ file: x.relFile, change: x.change, ...(x.from ? { from: x.from } : {}), ...(x.via ? { via: x.via } : {}) })),
    deleted: c.deleted,
  };
}
