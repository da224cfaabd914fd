import type { Command } from 'commander';
import { CHANGED_SINCE_HELP } from './changed-since-help.js';
import { lazyAction } from './lazy-action.js';

export const CAMPAIGN_FILE_HELP = `
The campaign file (campaigns/*.yaml):
  id: 42                       required; a unique whole number: \`marketer stats 42\`
  name: Weekly update          required; for you, not the recipient
  subject: "{{ first_name | default('there') }}, this week"   required; Nunjucks, one line
  preheader: Three things we shipped     optional; the inbox preview line
  from: "Jane <jane@example.com>"        default: from in marketer.yaml
  reply_to: support@example.com          one address or a list; default: reply_to in marketer.yaml
  template: templates/weekly.mjml        required; relative to the folder of marketer.yaml
  data: { hero_url: "https://…" }        campaign variables: {{ data.hero_url }}
  audience: { tags: [newsletter], exclude_tags: [churned] }   default: every active subscriber
      also where: [{ attribute: plan, in: [pro, team] }, { field: created_at, within: 30d },
      { engaged_within: 90d }, any: […]], exclude_campaigns: [41], segment: pro-users
      (segments/pro-users.yaml), sunset_after: 90d | off
  schedule: { at: "2026-12-01 08:00", timezone: subscriber, late: send, late_grace: 6h }
      at: local wall-clock time (omit to send now); timezone: subscriber (each one's own) or
      an IANA zone; late: send | skip a wave that is already late; late_grace: e.g. 6h, 90m
  utm: { source: newsletter, medium: email, campaign: weekly-48 }   also term, content
  transactional: false         true: no unsubscribe link or List-Unsubscribe headers
  variants:                    an A/B test; the first variant is the default
    - { name: a, subject: "This week in the app" }
    - { name: b, subject: "3 things we shipped", template: templates/b.mjml }
  test: { share: 0.2, metric: clicks, decide_after: 4h }
      share: the tested part of the audience; metric: clicks | opens; decide_after: when the
      rest's winner is chosen (before each wave: the test share goes out that much earlier)

Template variables: email, first_name, last_name, timezone, attributes.<name>, data.<name>,
unsubscribe_url, campaign.id, campaign.name, subject, preheader. A marketing template must link
{{ unsubscribe_url }}. Templates are sandboxed: they read these variables and call filters,
macros and range, cycler, joiner; "constructor", "__proto__" and the like are refused, as are
JavaScript method calls and {% include %}. Full reference: docs/campaign-file.md`;

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('Check campaign files and their templates (default: every file under campaigns/)')
    .argument('[paths...]', 'campaign files or folders')
    .option('--changed-since <commit>', 'only campaigns added or changed since this commit (git), e.g. the pull request base')
    .option('--summary <file>', 'append a Markdown report to this file (default: $GITHUB_STEP_SUMMARY when set)')
    .option('--no-summary', 'no Markdown report, even on GitHub Actions')
    .option('--json', 'print one JSON document')
    .addHelpText('after', `
Examples:
  $ marketer validate
  $ marketer validate campaigns/weekly.yaml --json
  $ marketer validate --changed-since origin/main
${CAMPAIGN_FILE_HELP}
${CHANGED_SINCE_HELP}

Exit code 2 when anything is wrong, with every problem as file:line:col: message (hint).
`)
    .action(lazyAction(() => import('../commands/validate.js'), (m) => m.validateAction));
}
