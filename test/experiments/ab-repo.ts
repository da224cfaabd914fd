import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../src/db/types.js';
import { makeCampaignRepo, SIMPLE_TEMPLATE } from '../helpers/campaign-repo.js';

export const CAMPAIGN = 14;
export const B_TEMPLATE = SIMPLE_TEMPLATE.replace('Hello', 'Shipped for you,');
export const SUBJECT_A = 'This week in the app';
/** Variant b's subject for a subscriber named `first`. */
export const subjectB = (first: string) => `${first}, 3 things we shipped`;

/** A campaigns repository with the A/B campaign of the documentation (id 14). */
export function makeAbRepo(o: { at?: string; share?: number; decideAfter?: string; metric?: string } = {}): { dir: string; campaignFile: string } {
  const repo = makeCampaignRepo({ id: CAMPAIGN, at: o.at });
  writeFileSync(path.join(repo.dir, 'templates', 'weekly-b.mjml'), B_TEMPLATE);
  const yaml = `id: ${CAMPAIGN}
name: Weekly with a subject test
subject: "Hello"
from: "Test Sender <news@example.com>"
template: templates/simple.mjml
audience: { tags: [newsletter] }
${o.at ? `schedule: { at: "${o.at}", timezone: subscriber }\n` : ''}variants:
  - { name: a, subject: "${SUBJECT_A}" }
  - { name: b, subject: "{{ first_name }}, 3 things we shipped", template: templates/weekly-b.mjml }
test: { share: ${o.share ?? 0.2}, metric: ${o.metric ?? 'clicks'}, decide_after: ${o.decideAfter ?? '4h'} }
`;
  writeFileSync(repo.campaignFile, yaml);
  return repo;
}

/** `count` subscribers user<i>@example.com named User<i>, in `zones` by turns. */
export async function seedSubscribers(db: Kysely<Database>, count: number, zones = ['UTC']): Promise<void> {
  await sql`INSERT INTO subscribers (email, first_name, timezone, tags)
            SELECT 'user' || i || '@example.com', 'User' || i, (${zones}::text[])[1 + i % ${zones.length}], '{newsletter}'
            FROM generate_series(1, ${count}) i`.execute(db);
}

/** The documented placement, computed apart from the SQL that does it: md5("<campaign>:<subscriber>"). */
export function expectedPlacement(campaign: number, subscriberId: string, share: number, variants: string[]): { inTest: boolean; variant: string | null } {
  const hex = createHash('md5').update(`${campaign}:${subscriberId}`).digest('hex').slice(0, 13);
  const u = Number.parseInt(hex, 16) / 2 ** 52;
  if (u >= share) return { inTest: false, variant: null };
  return { inTest: true, variant: variants[Math.min(Math.floor((u / share) * variants.length), variants.length - 1)]! };
}

/**
 * A clock for the ledger: each call moves every queued delivery as if the time now were `at`
 * (the CLI runs on the real clock; the waves move instead). Seconds of drift between calls do
 * not matter against waves hours apart.
 */
export function ledgerClock(db: Kysely<Database>): (at: string) => Promise<void> {
  let applied = 0;
  return async (at) => {
    const want = Date.parse(at) - Date.now();
    const delta = want - applied;
    applied = want;
    await sql`UPDATE deliveries SET due_at = due_at - make_interval(secs => ${delta / 1000}) WHERE status = 'queued'`.execute(db);
  };
}
