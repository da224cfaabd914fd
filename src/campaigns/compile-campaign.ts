import type { Config } from '../config/config.js';
import type { CompiledCampaign, LoadedCampaign } from './types.js';

/**
 * Compile a campaign (render-message.ts), loading the compiler at the first compile: Nunjucks'
 * environment, the sandbox and html-to-text take about 100 ms of CPU to load, which a command
 * should spend when it compiles, not before it starts reading its campaigns.
 */
export async function compileCampaign(campaign: LoadedCampaign, config: Config): Promise<CompiledCampaign> {
  return (await import('./render-message.js')).compileCampaign(campaign, config);
}
