import { sql, type RawBuilder } from 'kysely';
import type { AudienceSpec, Condition, Subject, Test } from './types.js';
import { isSunset } from './sunset.js';

/*
 * Conditions become one boolean SQL expression over `subscribers s`. Column names come only from
 * the allow-list in types.ts (through sql.ref); attribute names, values, patterns and durations
 * are bound parameters, so nothing a campaign file says is ever spliced into the statement.
 *
 * Every leaf is COALESCEd to a definite true or false: a missing attribute or a NULL column
 * fails eq, gt, starts_with, after… and passes their negations (ne, not_in, exists: false), so
 * NOT and the plan's "removed by" counts never meet a NULL.
 */

/**
 * Attribute text that reads as a plain decimal (sign, digits, one point; at most 30 digits on
 * each side, so the cast can neither fail nor overflow). Anything else (text, "5 seats",
 * "1e3", an empty value) is not a number: gt/gte/lt/lte and numeric eq are false for it.
 */
export const NUMBER_PATTERN = '^\\s*[-+]?([0-9]{1,30}(\\.[0-9]{0,30})?|\\.[0-9]{1,30})\\s*$';

/**
 * Attribute text that is a real calendar date (leap years included, year 1000–9999 or a leap
 * day of an earlier one) with an optional time and offset: exactly what ::timestamp(tz) accepts,
 * so the cast below cannot fail on a subscriber's value. Anything else is not a date: after,
 * before and within are false for it.
 */
export const DATE_PATTERN =
  '^(([1-9][0-9]{3}-((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])|(0[13-9]|1[0-2])-(29|30)|(0[13578]|1[02])-31))'
  + '|([0-9]{2}(0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26]|0[48])00)-02-29)'
  + '([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?)?$';
/** A date-time that names its offset; without one it is read as UTC. */
const OFFSET_PATTERN = '[T ][0-9:.]+(Z|[+-][0-9:]+)$';

/** The whole audience (every step, and sunsetting when it applies) as one expression. */
export function audienceExpression(spec: AudienceSpec, o: { sunset?: boolean } = {}): RawBuilder<boolean> {
  const parts = spec.steps.map((s) => compileCondition(s.condition));
  if (spec.sunset && o.sunset !== false) parts.push(sql<boolean>`NOT ${isSunset(spec.sunset)}`);
  return and(parts);
}

export function compileCondition(c: Condition): RawBuilder<boolean> {
  switch (c.kind) {
    case 'tags':
      return sql<boolean>`(s.tags && ${c.tags}::text[])`;
    case 'exclude_tags':
      return sql<boolean>`(NOT (s.tags && ${c.tags}::text[]))`;
    case 'exclude_campaigns':
      // Failed and skipped rows never reached the person; queued ones are about to.
      return sql<boolean>`(NOT EXISTS (SELECT 1 FROM deliveries x WHERE x.campaign_id = ANY(${c.ids}::int[]) AND x.subscriber_id = s.id AND x.status NOT IN ('failed', 'skipped')))`;
    case 'engaged':
      return sql<boolean>`(EXISTS (SELECT 1 FROM deliveries x WHERE x.subscriber_id = s.id AND (x.opened_at >= ${since(c.seconds)} OR x.clicked_at >= ${since(c.seconds)})))`;
    case 'any':
      return sql<boolean>`(${sql.join(c.of.map(compileCondition), sql` OR `)})`;
    case 'all':
      return and(c.of.map(compileCondition));
    case 'test':
      return compileTest(c.subject, c.test);
  }
}

function and(parts: RawBuilder<boolean>[]): RawBuilder<boolean> {
  return parts.length === 0 ? sql<boolean>`true` : sql<boolean>`(${sql.join(parts, sql` AND `)})`;
}

function since(seconds: number): RawBuilder<Date> {
  return sql<Date>`(now() - make_interval(secs => ${seconds}::float8))`;
}

function definite(e: RawBuilder<unknown>): RawBuilder<boolean> {
  return sql<boolean>`COALESCE(${e}, false)`;
}

function compileTest(subject: Subject, t: Test): RawBuilder<boolean> {
  switch (t.op) {
    case 'ne':
      return sql<boolean>`(NOT ${compileTest(subject, { op: 'eq', value: t.value })})`;
    case 'not_in':
      return sql<boolean>`(NOT ${compileTest(subject, { op: 'in', values: t.values })})`;
    case 'exists':
      return t.value ? present(subject) : sql<boolean>`(NOT ${present(subject)})`;
    case 'eq':
      return typeof t.value === 'number' ? definite(sql`${number(subject)} = ${t.value}::numeric`) : definite(sql`${text(subject)} = ${t.value}::text`);
    case 'in':
      return typeof t.values[0] === 'number'
        ? definite(sql`${number(subject)} = ANY(${t.values}::numeric[])`)
        : definite(sql`${text(subject)} = ANY(${t.values}::text[])`);
    case 'gt':
      return definite(sql`${number(subject)} > ${t.value}::numeric`);
    case 'gte':
      return definite(sql`${number(subject)} >= ${t.value}::numeric`);
    case 'lt':
      return definite(sql`${number(subject)} < ${t.value}::numeric`);
    case 'lte':
      return definite(sql`${number(subject)} <= ${t.value}::numeric`);
    case 'starts_with':
      // starts_with() rather than LIKE: % and _ in the value are plain characters.
      return definite(sql`starts_with(${text(subject)}, ${t.value}::text)`);
    case 'contains':
      return definite(sql`strpos(lower(${text(subject)}), lower(${t.value}::text)) > 0`);
    case 'after':
      return definite(sql`${time(subject)} > ${t.at}::timestamptz`);
    case 'before':
      return definite(sql`${time(subject)} < ${t.at}::timestamptz`);
    case 'within':
      return definite(sql`${time(subject)} >= ${since(t.seconds)}`);
  }
}

function column(subject: Subject & { kind: 'field' }): RawBuilder<unknown> {
  return sql`${sql.ref(`s.${subject.field}`)}`;
}

function attributeText(name: string): RawBuilder<string> {
  return sql<string>`(s.attributes ->> ${name}::text)`;
}

function text(subject: Subject): RawBuilder<string> {
  return subject.kind === 'attribute' ? attributeText(subject.name) : sql<string>`${column(subject)}::text`;
}

function number(subject: Subject): RawBuilder<number> {
  if (subject.kind === 'field') return sql<number>`${column(subject)}::numeric`;
  const v = attributeText(subject.name);
  return sql<number>`(CASE WHEN ${v} ~ ${NUMBER_PATTERN}::text THEN ${v}::numeric END)`;
}

function time(subject: Subject): RawBuilder<Date> {
  if (subject.kind === 'field') return sql<Date>`${column(subject)}`;
  const v = attributeText(subject.name);
  return sql<Date>`(CASE WHEN ${v} ~ ${DATE_PATTERN}::text THEN
    CASE WHEN ${v} ~ ${OFFSET_PATTERN}::text THEN ${v}::timestamptz ELSE ${v}::timestamp AT TIME ZONE 'UTC' END END)`;
}

/** Has a value: a non-empty text, or any number or time. */
function present(subject: Subject): RawBuilder<boolean> {
  if (subject.kind === 'field' && subject.type !== 'text') return sql<boolean>`(${column(subject)} IS NOT NULL)`;
  return definite(sql`${text(subject)} <> ''`);
}
