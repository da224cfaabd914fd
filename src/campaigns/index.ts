export type { CampaignSchedule, CompiledCampaign, LoadedCampaign, RenderRecipient, RenderedMessage, UnsubscribeMode } from './types.js';
export { loadCampaign, loadCampaigns, checkCampaigns, parseDuration, type CampaignReport } from './load-campaign.js';
export { compileCampaign, SAMPLE_RECIPIENT } from './render-message.js';
export { decorateLinks, findLinks } from './decorate-links.js';
export { formatProblem, type Problem } from './problems.js';
export { signUnsubscribeToken, verifyUnsubscribeToken, unsubscribeUrl, type UnsubscribeClaims } from './unsubscribe-token.js';
export { DEVELOPMENT_UNSUBSCRIBE_SECRET, DEVELOPMENT_UNSUBSCRIBE_URL, PLACEHOLDER_UNSUBSCRIBE_SECRET } from './unsubscribe-mode.js';
export { compileActivity, type CompileActivity } from './compile-template.js';
export { compileCampaigns, type CompileOutcome } from './compile-campaigns.js';
