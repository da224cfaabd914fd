import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { campaignYaml, MARKETING_ENV, project } from './fixtures.js';

const env = { MARKETER_TRANSPORT: 'outbox', ...MARKETING_ENV };

// Each line has one problem of a different stage.
const TEMPLATE = `<mjml>
  <mj-body>
    <mj-include path="./partials/footer.mjml" />
    <mj-section background-color="not-a-colour">
      <mj-column>
        <mj-text>Hello {{ frist_name }}, {{ email.constructor }}</mj-text>
        <mj-text><a href="{{ unsubscribe_url }}">Unsubscribe</a></mj-text>
      </mj-column>
    </mj-section>
    <mj-include path="./partials/news.mjml" />
  </mj-body>
</mjml>
`;
const PARTIAL = '<mj-section><mj-column><mj-text>{{ data.items | map("x") }}</mj-text></mj-column></mj-section>';

describe('validate reports every problem of every stage in one run', () => {
  it('YAML schema, header-unsafe data, includes, unknown names, the sandbox, filters in partials and strict MJML, together', async () => {
    const dir = project({
      'templates/t.mjml': TEMPLATE,
      'templates/partials/news.mjml': PARTIAL,
      'campaigns/a.yaml': `${campaignYaml('colour: blue\ndata:\n  title: "a\\nb"\n  items: [1]\n').replace(/^subject: .*$/m, 'subject: "{{ data.title }}"')}`,
      'campaigns/b.yaml': 'id: 8\nname: [unclosed\n',
    });
    const r = await runCli(['validate'], { cwd: dir, env });
    expect(r.code).toBe(2);
    // Without the hints: every problem, in one run, each where it is.
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('  ')).map((l) => l.trim().replace(/ \([^()]*(\([^()]*\)[^()]*)*\)$/, ''));
    expect(lines).toEqual([
      'campaigns/a.yaml:6:1: unknown key "colour" in campaign',
      'campaigns/a.yaml:5:11: mj-include "./partials/footer.mjml" (templates/t.mjml:3) not found',
      'campaigns/a.yaml:8:10: data.title contains a line break, and the subject uses it',
      'campaigns/b.yaml:3:1: YAML syntax: Flow sequence in block collection must be sufficiently indented and end with a ]',
      'templates/t.mjml:6:27: unknown variable "frist_name"',
      'templates/t.mjml:6:51: template reaches "constructor"',
      'templates/t.mjml:4:1: MJML (strict): <mj-section> Attribute background-color has invalid value: not-a-colour for type Color',
      'templates/partials/news.mjml:1:33: unknown filter "map"',
    ]);
    expect(r.stderr).toMatch(/^error 8 problems found:\n/);
  });
});
