import { DateTime } from 'luxon';
import { isMap, isScalar, isSeq, type Node as YamlNode, type Pair } from 'yaml';
import { describe, parseDuration } from '../campaigns/load-campaign.js';
import { closest } from '../campaigns/problems.js';
import { OPERATORS, SUBSCRIBER_FIELDS, type At, type AudienceStep, type Condition, type Operator, type Subject, type SubscriberField, type Test } from './types.js';

/** `any:`/`all:` groups nest; deeper than this is a mistake, not a segment. */
const MAX_DEPTH = 8;
/** Durations (within, engaged_within, sunset_after) up to about a century. */
const MAX_DURATION_SECONDS = 100 * 365 * 86400;
const GROUP_KEYS = ['any', 'all', 'engaged_within'] as const;
const SUBJECT_KEYS = ['field', 'attribute'] as const;
const ALL_KEYS: readonly string[] = [...SUBJECT_KEYS, ...OPERATORS, ...GROUP_KEYS];
const MAX_ATTRIBUTE_NAME = 200;

const CONDITION_HINT = 'e.g. { attribute: plan, in: [pro, team] }, { field: created_at, within: 30d }, { engaged_within: 90d } or { any: [ … ] }';

/**
 * Dates: YYYY-MM-DD, or a date and time (T or space) with an optional offset. Without an offset
 * the value is UTC, so a campaign selects the same people wherever plan or send runs.
 */
const DATE_TEXT = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?$/;

/** "90d", "12h", "1h30m" → seconds (and the text as written); reports anything else at the node. */
export function readDuration(node: YamlNode | null | undefined, key: string, at: At): { seconds: number; text: string } | undefined {
  const raw = node && isScalar(node) && typeof node.value === 'string' ? node.value.trim() : undefined;
  const seconds = raw === undefined ? undefined : parseDuration(raw);
  if (raw === undefined || seconds === undefined || seconds <= 0 || seconds > MAX_DURATION_SECONDS) {
    at(node, `${key} must be a duration such as 90d, 30d or 12h, got ${describe(node ?? null)}`, 'a whole number followed by d (days), h (hours), m (minutes) or s (seconds)');
    return undefined;
  }
  return { seconds, text: raw };
}

/** A date or date-time as an instant (UTC unless an offset is given); reports anything else. */
export function readInstant(node: YamlNode | null, key: string, at: At): { at: Date; text: string } | undefined {
  const raw = node && isScalar(node) && typeof node.value === 'string' ? node.value.trim() : undefined;
  const parsed = raw !== undefined && DATE_TEXT.test(raw) ? DateTime.fromISO(raw.replace(' ', 'T'), { zone: 'utc' }) : undefined;
  if (raw === undefined || !parsed?.isValid) {
    at(node, `${key} must be a date, got ${describe(node)}`, 'e.g. "2026-01-01" (midnight UTC) or "2026-01-01T08:00:00+01:00"; without an offset the time is UTC');
    return undefined;
  }
  return { at: parsed.toJSDate(), text: raw };
}

/**
 * The `where:` list (all must hold) as steps, or undefined when anything in it is wrong (each
 * problem reported at its node).
 */
export function readWhere(node: YamlNode | null | undefined, key: string, at: At): AudienceStep[] | undefined {
  if (!node) return [];
  if (!isSeq(node)) {
    at(node, `"${key}" must be a list of conditions, got ${describe(node)}`, CONDITION_HINT);
    return undefined;
  }
  const steps: AudienceStep[] = [];
  let ok = true;
  for (const item of node.items as (YamlNode | null)[]) {
    const read = readCondition(item, key, 0, at);
    if (read) steps.push(read);
    else ok = false;
  }
  return ok ? steps : undefined;
}

function readCondition(node: YamlNode | null, where: string, depth: number, at: At): AudienceStep | undefined {
  if (!node || !isMap(node)) {
    at(node, `a condition in ${where} must be a mapping, got ${describe(node)}`, CONDITION_HINT);
    return undefined;
  }
  const pairs = new Map<string, Pair<YamlNode, YamlNode | null>>();
  let ok = true;
  for (const pair of node.items as Pair<YamlNode, YamlNode | null>[]) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!ALL_KEYS.includes(key)) {
      const guess = closest(key, ALL_KEYS);
      at(pair.key, `unknown operator or key "${key}" in a condition of ${where}`, guess ? `did you mean "${guess}"?` : `operators: ${OPERATORS.join(', ')}`);
      ok = false;
      continue;
    }
    pairs.set(key, pair);
  }
  if (!ok) return undefined;

  const group = GROUP_KEYS.find((k) => pairs.has(k));
  if (group) {
    if (pairs.size > 1) {
      at(node, `"${group}" stands alone in its condition; found ${[...pairs.keys()].map((k) => `"${k}"`).join(', ')}`, 'put the other conditions beside it in the list, or inside an any:/all: list');
      return undefined;
    }
    const value = pairs.get(group)!.value;
    if (group === 'engaged_within') {
      const d = readDuration(value, 'engaged_within', at);
      return d ? { label: `engaged_within ${d.text}`, condition: { kind: 'engaged', seconds: d.seconds, text: d.text } } : undefined;
    }
    if (depth + 1 >= MAX_DEPTH) {
      at(node, `${group}: groups nest at most ${MAX_DEPTH} deep`);
      return undefined;
    }
    if (!value || !isSeq(value) || value.items.length === 0) {
      at(value ?? node, `"${group}" must be a non-empty list of conditions, got ${value && isSeq(value) ? 'an empty list' : describe(value)}`, `${group === 'any' ? 'one' : 'all'} of them must hold; ${CONDITION_HINT}`);
      return undefined;
    }
    const inner: AudienceStep[] = [];
    for (const item of value.items as (YamlNode | null)[]) {
      const read = readCondition(item, `${where} ${group}`, depth + 1, at);
      if (read) inner.push(read);
      else ok = false;
    }
    if (!ok) return undefined;
    return { label: `${group} of (${inner.map((s) => s.label).join('; ')})`, condition: { kind: group, of: inner.map((s) => s.condition) } };
  }

  const subjects = SUBJECT_KEYS.filter((k) => pairs.has(k));
  const operators = OPERATORS.filter((k) => pairs.has(k));
  if (subjects.length !== 1) {
    at(node, subjects.length === 0 ? `a condition in ${where} needs "field" or "attribute"` : 'a condition names "field" or "attribute", not both', CONDITION_HINT);
    return undefined;
  }
  if (operators.length !== 1) {
    at(node, operators.length === 0 ? `a condition in ${where} needs an operator` : `one operator per condition, found ${operators.join(', ')}`, `operators: ${OPERATORS.join(', ')}; list several conditions for "and"`);
    return undefined;
  }
  const subject = readSubject(pairs.get(subjects[0]!)!, at);
  if (!subject) return undefined;
  const op = operators[0]!;
  const valueNode = pairs.get(op)!.value;
  const test = readTest(subject, op, valueNode, at);
  if (!test) return undefined;
  return { label: `${subjectLabel(subject)} ${op} ${valueLabel(test)}`, condition: { kind: 'test', subject, test } };
}

function readSubject(pair: Pair<YamlNode, YamlNode | null>, at: At): Subject | undefined {
  const key = isScalar(pair.key) ? String(pair.key.value) : '';
  const node = pair.value;
  const name = node && isScalar(node) && typeof node.value === 'string' ? node.value.trim() : undefined;
  if (!name) {
    at(node ?? pair.key, `"${key}" must name ${key === 'field' ? 'a subscriber field' : 'an attribute'}, got ${describe(node)}`, key === 'field' ? `fields: ${Object.keys(SUBSCRIBER_FIELDS).join(', ')}` : 'e.g. attribute: plan (a column of the imported CSV)');
    return undefined;
  }
  if (key === 'attribute') {
    if (name.length > MAX_ATTRIBUTE_NAME) {
      at(node, `attribute names are at most ${MAX_ATTRIBUTE_NAME} characters`);
      return undefined;
    }
    return { kind: 'attribute', name };
  }
  if (!Object.hasOwn(SUBSCRIBER_FIELDS, name)) {
    const guess = closest(name, Object.keys(SUBSCRIBER_FIELDS));
    const hint = guess ? `did you mean "${guess}"?` : name === 'tags' ? 'use audience.tags and exclude_tags for tags' : `fields: ${Object.keys(SUBSCRIBER_FIELDS).join(', ')}; anything else from the CSV is an attribute: { attribute: ${name}, … }`;
    at(node, `unknown field "${name}"`, hint);
    return undefined;
  }
  const field = name as SubscriberField;
  return { kind: 'field', field, type: SUBSCRIBER_FIELDS[field] };
}

type Kind = 'text' | 'number' | 'time' | 'attribute';

function kindOf(s: Subject): Kind {
  return s.kind === 'attribute' ? 'attribute' : s.type;
}

/** Which operators each kind of value takes, and what to say instead. */
const ALLOWED: Record<Kind, readonly Operator[]> = {
  text: ['eq', 'ne', 'in', 'not_in', 'exists', 'starts_with', 'contains'],
  number: ['eq', 'ne', 'in', 'not_in', 'gt', 'gte', 'lt', 'lte', 'exists'],
  time: ['after', 'before', 'within', 'exists'],
  attribute: OPERATORS,
};

function readTest(subject: Subject, op: Operator, node: YamlNode | null, at: At): Test | undefined {
  const kind = kindOf(subject);
  const label = subjectLabel(subject);
  if (!ALLOWED[kind].includes(op)) {
    at(node, `${label} is ${kind === 'time' ? 'a time' : kind === 'number' ? 'a number' : 'text'}: "${op}" does not apply`, `use ${ALLOWED[kind].join(', ')}`);
    return undefined;
  }
  const scalar = node && isScalar(node) ? node.value : undefined;
  switch (op) {
    case 'eq':
    case 'ne': {
      const value = comparable(kind, scalar);
      if (value === undefined) return wrongType(node, label, op, kind, at);
      return { op, value };
    }
    case 'in':
    case 'not_in': {
      if (!node || !isSeq(node) || node.items.length === 0) {
        at(node, `${label} ${op}: needs a non-empty list, got ${describe(node)}`, `e.g. ${op}: [pro, team]`);
        return undefined;
      }
      const values = (node.items as (YamlNode | null)[]).map((item) => comparable(kind, item && isScalar(item) ? item.value : undefined));
      const numbers = values.every((v) => typeof v === 'number');
      const texts = values.every((v) => typeof v === 'string');
      if (!numbers && !texts) {
        const bad = (node.items as (YamlNode | null)[]).find((_, i) => values[i] === undefined) ?? node;
        if (values.some((v) => v === undefined)) return wrongType(bad, label, op, kind, at);
        at(node, `${label} ${op}: the list mixes numbers and text`, 'numbers compare as numbers, text as text: quote every value to compare text');
        return undefined;
      }
      return { op, values: values as string[] | number[] };
    }
    case 'gt':
    case 'gte':
    case 'lt':
    case 'lte':
      if (typeof scalar !== 'number' || !Number.isFinite(scalar)) {
        at(node, `${label} ${op}: needs a number, got ${describe(node)}`, typeof scalar === 'string' ? 'write the number without quotes; for dates use after/before' : 'e.g. gte: 5');
        return undefined;
      }
      return { op, value: scalar };
    case 'exists':
      if (typeof scalar !== 'boolean') {
        at(node, `${label} exists: needs true or false, got ${describe(node)}`);
        return undefined;
      }
      return { op, value: scalar };
    case 'starts_with':
    case 'contains':
      if (typeof scalar !== 'string' || scalar === '') {
        at(node, `${label} ${op}: needs non-empty text, got ${describe(node)}`, typeof scalar === 'number' ? 'put the value in quotes' : undefined);
        return undefined;
      }
      return { op, value: scalar };
    case 'after':
    case 'before': {
      const instant = readInstant(node, `${label} ${op}`, at);
      return instant ? { op, ...instant } : undefined;
    }
    case 'within': {
      const d = readDuration(node, `${label} within`, at);
      return d ? { op, ...d } : undefined;
    }
  }
}

/** A value eq/ne/in compare with: text for text fields, numbers for number fields, either for attributes. */
function comparable(kind: Kind, value: unknown): string | number | undefined {
  if (kind === 'number') return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string') return value;
  if (kind === 'attribute') {
    if (typeof value === 'number' && Number.isFinite(value)) return value;
    // CSV attributes are text: true matches the text "true".
    if (typeof value === 'boolean') return String(value);
  }
  return undefined;
}

function wrongType(node: YamlNode | null, label: string, op: Operator, kind: Kind, at: At): undefined {
  const wants = kind === 'number' ? 'a number' : kind === 'text' ? 'text' : 'text or a number';
  at(node, `${label} ${op}: needs ${wants}, got ${describe(node)}`, kind === 'text' ? 'put the value in quotes' : undefined);
  return undefined;
}

function subjectLabel(s: Subject): string {
  return s.kind === 'field' ? s.field : `attribute ${showText(s.name)}`;
}

function showText(v: string): string {
  const short = v.length > 40 ? `${v.slice(0, 39)}…` : v;
  return /^[\w./@+:-]+$/.test(short) ? short : JSON.stringify(short);
}

function valueLabel(t: Test): string {
  const one = (v: string | number) => (typeof v === 'number' ? String(v) : showText(v));
  switch (t.op) {
    case 'in':
    case 'not_in': {
      const shown = (t.values as (string | number)[]).slice(0, 5).map(one);
      return `[${shown.join(', ')}${t.values.length > 5 ? `, +${t.values.length - 5}` : ''}]`;
    }
    case 'after':
    case 'before':
    case 'within':
      return t.text;
    default:
      return one(typeof t.value === 'boolean' ? String(t.value) : t.value);
  }
}
