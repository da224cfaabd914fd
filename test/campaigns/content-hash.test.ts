import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCampaign } from '../../src/campaigns/index.js';
import { loadConfig } from '../../src/config/config.js';
import { makeCampaignRepo } from '../helpers/campaign-repo.js';

describe('campaign content hash', () => {
  it('changes when the YAML, the template or an included partial changes, and only then', async () => {
    const { dir, campaignFile } = makeCampaignRepo();
    mkdirSync(path.join(dir, 'templates', 'partials'));
    const footer = path.join(dir, 'templates', 'partials', 'footer.mjml');
    writeFileSync(footer, '<mj-section><mj-column><mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text></mj-column></mj-section>\n');
    writeFileSync(path.join(dir, 'templates', 'simple.mjml'), '<mjml><mj-body><mj-section><mj-column><mj-text>Hi</mj-text></mj-column></mj-section><mj-include path="./partials/footer.mjml" /></mj-body></mjml>\n');
    const config = loadConfig({ cwd: dir, env: {} });
    const hash = async () => (await loadCampaign(campaignFile, config)).contentHash;
    const first = await hash();
    expect(await hash()).toBe(first);
    writeFileSync(footer, '<mj-section><mj-column><mj-text>Bye <a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text></mj-column></mj-section>\n');
    const second = await hash();
    expect(second).not.toBe(first);
    writeFileSync(campaignFile, `${readFileSync(campaignFile, 'utf8')}# a comment\n`);
    expect(await hash()).not.toBe(second);
  });
});
