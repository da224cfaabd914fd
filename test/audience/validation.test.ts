import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadCampaign } from '../../src/campaigns/index.js';
import { MarketerError } from '../../src/errors.js';
import { campaignYaml, configFor, MARKETING_ENV, project, TEMPLATE } from '../campaigns/fixtures.js';

async function problemsOf(audience: string): Promise<string[]> {
  const dir = project({ 'templates/t.mjml': TEMPLATE, 'campaigns/c.yaml': campaignYaml(`audience:\n${audience}`) });
  try {
    await loadCampaign(path.join(dir, 'campaigns/c.yaml'), configFor(dir, MARKETING_ENV));
  } catch (err) {
    expect(err).toBeInstanceOf(MarketerError);
    return (err as MarketerError).details;
  }
  throw new Error('expected the campaign to be rejected');
}

describe('audience validation', () => {
  it('reports every wrong field, operator, value type, duration and date at its line and column, in one run', async () => {
    expect(await problemsOf(`  tags: [newsletter]
  where:
    - { field: plann, eq: x }
    - { attribute: plan, equals: pro }
    - { attribute: seats, gte: "5" }
    - { field: created_at, within: 30 days }
    - { field: created_at, after: "2026-13-01" }
    - { field: created_at, gt: 5 }
    - any: []
    - { engaged_within: 90d, field: email }
    - { field: first_name, eq: 5 }
    - { attribute: plan }
    - { attribute: plan, in: [pro, 5] }
    - { attribute: x, after: "2026-02-30" }
  exclude_campaigns: [abc]
  segmnt: x
`)).toEqual([
      'campaigns/c.yaml:22:3: unknown key "segmnt" in audience (did you mean "segment"?)',
      'campaigns/c.yaml:9:16: unknown field "plann" (fields: email, first_name, last_name, timezone, source, consent_ip, consent_text, consent_at, created_at, updated_at, soft_bounces; anything else from the CSV is an attribute: { attribute: plann, … })',
      'campaigns/c.yaml:10:26: unknown operator or key "equals" in a condition of audience.where (operators: eq, ne, in, not_in, gt, gte, lt, lte, exists, starts_with, contains, after, before, within)',
      'campaigns/c.yaml:11:32: attribute seats gte: needs a number, got text "5" (write the number without quotes; for dates use after/before)',
      'campaigns/c.yaml:12:36: created_at within must be a duration such as 90d, 30d or 12h, got text "30 days" (a whole number followed by d (days), h (hours), m (minutes) or s (seconds))',
      'campaigns/c.yaml:13:35: created_at after must be a date, got text "2026-13-01" (e.g. "2026-01-01" (midnight UTC) or "2026-01-01T08:00:00+01:00"; without an offset the time is UTC)',
      'campaigns/c.yaml:14:32: created_at is a time: "gt" does not apply (use after, before, within, exists)',
      'campaigns/c.yaml:15:12: "any" must be a non-empty list of conditions, got an empty list (one of them must hold; e.g. { attribute: plan, in: [pro, team] }, { field: created_at, within: 30d }, { engaged_within: 90d } or { any: [ … ] })',
      'campaigns/c.yaml:16:7: "engaged_within" stands alone in its condition; found "engaged_within", "field" (put the other conditions beside it in the list, or inside an any:/all: list)',
      'campaigns/c.yaml:17:32: first_name eq: needs text, got the number 5 (put the value in quotes)',
      'campaigns/c.yaml:18:7: a condition in audience.where needs an operator (operators: eq, ne, in, not_in, gt, gte, lt, lte, exists, starts_with, contains, after, before, within; list several conditions for "and")',
      'campaigns/c.yaml:19:30: attribute plan in: the list mixes numbers and text (numbers compare as numbers, text as text: quote every value to compare text)',
      'campaigns/c.yaml:20:30: attribute x after must be a date, got text "2026-02-30" (e.g. "2026-01-01" (midnight UTC) or "2026-01-01T08:00:00+01:00"; without an offset the time is UTC)',
      'campaigns/c.yaml:21:23: "audience.exclude_campaigns" items must be campaign ids (whole numbers from 1), got text "abc" (the id: of the campaign whose recipients to leave out)',
    ]);
  });

  it('reports problems inside nested groups at their own position', async () => {
    expect(await problemsOf(`  where:
    - any:
        - { engaged_within: 90 }
        - all:
            - { field: timezone, starts_with: 5 }
`)).toEqual([
      'campaigns/c.yaml:9:29: engaged_within must be a duration such as 90d, 30d or 12h, got the number 90 (a whole number followed by d (days), h (hours), m (minutes) or s (seconds))',
      'campaigns/c.yaml:11:47: timezone starts_with: needs non-empty text, got the number 5 (put the value in quotes)',
    ]);
  });
});
