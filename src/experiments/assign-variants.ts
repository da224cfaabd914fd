import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { LoadedCampaign } from '../campaigns/types.js';
import type { Database } from '../db/types.js';

type Db = Kysely<Database> | Transaction<Database>;

/** The parts of enqueue's INSERT … SELECT (alias `s` for subscribers) that place a person in a test. */
export interface VariantEnqueue {
  /** `, variant, in_test` or nothing. */
  columns: RawBuilder<unknown>;
  /** The values for those columns, in the same order. */
  values: RawBuilder<unknown>;
  /** A join that computes the person's position `ab.u` in [0, 1), or nothing. */
  from: RawBuilder<unknown>;
  /** The due time of the person's delivery, given their wave time. */
  dueAt(wave: RawBuilder<Date>): RawBuilder<Date>;
}

const none: VariantEnqueue = { columns: sql``, values: sql``, from: sql``, dueAt: (wave) => wave };

/**
 * A person's position in [0, 1) for a campaign: the first 52 bits of md5("<campaign>:<subscriber>").
 * Uniform, the same on every run and every server (md5 and bit casts do not change between
 * Postgres versions, unlike hashtext), and different per campaign, so the same people are not
 * always the ones tested. Nothing secret rides on it: it picks who is tested, not who is mailed.
 */
export function positionExpression(campaignId: number): RawBuilder<number> {
  return sql<number>`(('x' || substr(md5(${String(campaignId)} || ':' || s.id::text), 1, 13))::bit(52)::bigint::double precision / 4503599627370496.0)`;
}

/**
 * Record the campaign's test settings (under enqueue's campaign lock, so never beside a decision
 * being made) and return how its deliveries are placed:
 * - before the decision, a `share` of the audience (by position) is in the test, split evenly by
 *   position across the variants, due `decide_after` before its wave (never before now); the
 *   rest has no variant yet and is due at its wave (without a schedule: `decide_after` from now);
 * - after it, people enqueued late get the winner, due at their wave.
 */
export async function variantEnqueue(trx: Db, c: LoadedCampaign, now: Date): Promise<VariantEnqueue> {
  const e = c.experiment;
  if (!e) return none;
  const names = e.variants.map((v) => v.name);
  const { rows } = await sql<{ winner: string | null }>`
    INSERT INTO campaign_tests (campaign_id, variants, share, metric, decide_after)
    VALUES (${c.id}, ${names}::text[], ${e.test.share}, ${e.test.metric}, ${e.test.decideAfterSeconds})
    ON CONFLICT (campaign_id) DO UPDATE
      SET variants = EXCLUDED.variants, share = EXCLUDED.share, metric = EXCLUDED.metric, decide_after = EXCLUDED.decide_after
      WHERE campaign_tests.winner IS NULL
    RETURNING winner`.execute(trx);
  const winner = rows[0]?.winner
    ?? (await trx.selectFrom('campaign_tests').select('winner').where('campaign_id', '=', c.id).executeTakeFirst())?.winner
    ?? null;
  if (winner !== null) return { columns: sql`, variant, in_test`, values: sql`, ${winner}::text, false`, from: sql``, dueAt: (wave) => wave };
  const share = e.test.share;
  const decide = sql`make_interval(secs => ${e.test.decideAfterSeconds})`;
  const inTest = sql`ab.u < ${share}::double precision`;
  return {
    columns: sql`, variant, in_test`,
    values: sql`, CASE WHEN ${inTest} THEN (${names}::text[])[least(floor(ab.u / ${share}::double precision * ${names.length})::int, ${names.length - 1}) + 1] END, ${inTest}`,
    from: sql`CROSS JOIN LATERAL (SELECT ${positionExpression(c.id)} AS u) ab`,
    dueAt: (wave) => c.schedule.at
      ? sql<Date>`CASE WHEN ${inTest} THEN greatest(${wave} - ${decide}, ${now}::timestamptz) ELSE ${wave} END`
      : sql<Date>`CASE WHEN ${inTest} THEN ${wave} ELSE ${wave} + ${decide} END`,
  };
}

/**
 * `send --now` brings queued deliveries forward to now; an A/B test's rest still waits
 * `decide_after` for the winner. The new due_at of each queued row (alias-free, for an UPDATE).
 */
export function sendNowDueAt(c: LoadedCampaign, now: Date): RawBuilder<Date> {
  const e = c.experiment;
  if (!e) return sql<Date>`${now}::timestamptz`;
  return sql<Date>`CASE WHEN in_test IS FALSE AND variant IS NULL
    THEN least(due_at, ${now}::timestamptz + make_interval(secs => ${e.test.decideAfterSeconds})) ELSE ${now}::timestamptz END`;
}
