import type { Config } from '../config/config.js';
import { inputError, isMarketerError } from '../errors.js';
import type { CompiledCampaign, LoadedCampaign } from '../campaigns/types.js';

type CompileOne = (campaign: LoadedCampaign, config: Config) => Promise<CompiledCampaign>;

/** The campaign as one variant sends it: the variant's subject, preheader and template where it sets them. */
export function variantCampaign(campaign: LoadedCampaign, name: string): LoadedCampaign {
  const v = campaign.experiment?.variants.find((x) => x.name === name);
  if (!v) throw new Error(`campaign ${campaign.id} has no variant "${name}"`);
  const { experiment: _experiment, ...base } = campaign;
  return {
    ...base,
    subject: v.subject ?? campaign.subject,
    preheader: v.preheader ?? campaign.preheader,
    ...(v.templatePath && v.relTemplate ? { templatePath: v.templatePath, relTemplate: v.relTemplate, sources: v.sources } : {}),
  };
}

/**
 * Compile the campaign and each of its variants through the same path (sandbox checks, MJML
 * with its compile cache, the sample render), so validate, plan, send and dispatch check every
 * variant. Every problem of every variant is reported in one error; a problem the variants
 * share (the campaign's own template) is listed once.
 */
export async function compileWithVariants(campaign: LoadedCampaign, config: Config, compileOne: CompileOne): Promise<CompiledCampaign> {
  const names = campaign.experiment?.variants.map((v) => v.name) ?? [];
  const { experiment: _experiment, ...plain } = campaign;
  const outcomes = await Promise.allSettled([compileOne(plain, config), ...names.map((n) => compileOne(variantCampaign(campaign, n), config))]);
  const failures = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason as unknown] : []));
  if (failures.length > 0) {
    const invalid = failures.filter(isMarketerError).filter((e) => e.code === 'CAMPAIGN_INVALID');
    if (invalid.length !== failures.length) throw failures.find((e) => !isMarketerError(e) || e.code !== 'CAMPAIGN_INVALID');
    const details = [...new Set(invalid.flatMap((e) => e.details))];
    const count = details.length === 1 ? '1 problem' : `${details.length} problems`;
    throw inputError('CAMPAIGN_INVALID', `${campaign.relFile}: ${count}:`, { details, hint: invalid[0]?.hint });
  }
  const compiled = outcomes.map((o) => (o as PromiseFulfilledResult<CompiledCampaign>).value);
  const main = compiled[0]!;
  const variants = new Map(names.map((n, i) => [n, compiled[i + 1]!]));
  return { ...main, campaign, cached: compiled.every((c) => c.cached), variants };
}
