import type { Config } from '../config/config.js';
import { compileCampaign } from './compile-campaign.js';
import type { CompiledCampaign, LoadedCampaign } from './types.js';

export type CompileOutcome = { ok: true; compiled: CompiledCampaign } | { ok: false; error: unknown };

/**
 * Compile many campaigns, in their order, with MJML working ahead in its worker thread while
 * this thread does the rest of each (Nunjucks, the text part, the sample check): on two cores
 * a validate of 50 new templates takes about the longer of the two shares instead of their sum.
 * `ahead` bounds how many are in flight (and so how many results wait in memory).
 */
export async function compileCampaigns(campaigns: LoadedCampaign[], config: Config, ahead = 4): Promise<CompileOutcome[]> {
  const outcomes: CompileOutcome[] = new Array(campaigns.length);
  let next = 0;
  const lane = async () => {
    while (next < campaigns.length) {
      const i = next++;
      try {
        outcomes[i] = { ok: true, compiled: await compileCampaign(campaigns[i]!, config) };
      } catch (error) {
        outcomes[i] = { ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(ahead, campaigns.length) }, lane));
  return outcomes;
}
