import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export const SIMPLE_TEMPLATE = `<mjml>
  <mj-body>
    <mj-section>
      <mj-column>
        <mj-text>Hello {{ first_name | default('friend') }}, see <a href="https://example.com/news">the news</a>.</mj-text>
        <mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;

export interface CampaignOptions {
  id?: number;
  at?: string;
  timezone?: string;
  late?: 'send' | 'skip';
  lateGrace?: string;
  tags?: string[];
  subject?: string;
}

export function campaignYaml(o: CampaignOptions = {}): string {
  const lines = [
    `id: ${o.id ?? 7}`,
    'name: Test campaign',
    `subject: "${o.subject ?? 'Hello {{ first_name | default(\'there\') }}'}"`,
    'from: "Test Sender <news@example.com>"',
    'template: templates/simple.mjml',
    `audience: { tags: [${(o.tags ?? ['newsletter']).join(', ')}] }`,
  ];
  if (o.at) lines.push(`schedule: { at: "${o.at}", timezone: ${o.timezone ?? 'subscriber'}, late: ${o.late ?? 'send'}, late_grace: ${o.lateGrace ?? '6h'} }`);
  return `${lines.join('\n')}\n`;
}

/** A campaigns repository in a temp folder: marketer.yaml, campaigns/c.yaml, templates/simple.mjml. */
export function makeCampaignRepo(o: CampaignOptions & { config?: string } = {}): { dir: string; campaignFile: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'marketer-repo-'));
  mkdirSync(path.join(dir, 'campaigns'));
  mkdirSync(path.join(dir, 'templates'));
  writeFileSync(path.join(dir, 'marketer.yaml'), o.config ?? 'concurrency: 8\n');
  writeFileSync(path.join(dir, 'templates', 'simple.mjml'), SIMPLE_TEMPLATE);
  const campaignFile = path.join(dir, 'campaigns', 'c.yaml');
  writeFileSync(campaignFile, campaignYaml(o));
  return { dir, campaignFile };
}
