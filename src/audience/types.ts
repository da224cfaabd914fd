import type { Node as YamlNode } from 'yaml';

/**
 * Subscriber columns a condition may name, with how their values compare. Only these names ever
 * reach SQL as identifiers; attribute names and every value travel as bound parameters.
 */
export const SUBSCRIBER_FIELDS = {
  email: 'text',
  first_name: 'text',
  last_name: 'text',
  timezone: 'text',
  source: 'text',
  consent_ip: 'text',
  consent_text: 'text',
  consent_at: 'time',
  created_at: 'time',
  updated_at: 'time',
  soft_bounces: 'number',
} as const;

export type SubscriberField = keyof typeof SUBSCRIBER_FIELDS;
export type FieldType = (typeof SUBSCRIBER_FIELDS)[SubscriberField];

export const OPERATORS = ['eq', 'ne', 'in', 'not_in', 'gt', 'gte', 'lt', 'lte', 'exists', 'starts_with', 'contains', 'after', 'before', 'within'] as const;
export type Operator = (typeof OPERATORS)[number];

/** What a condition reads: a subscriber column from the allow-list, or one attribute by name. */
export type Subject = { kind: 'field'; field: SubscriberField; type: FieldType } | { kind: 'attribute'; name: string };

export type Test =
  | { op: 'eq' | 'ne'; value: string | number }
  | { op: 'in' | 'not_in'; values: string[] | number[] }
  | { op: 'gt' | 'gte' | 'lt' | 'lte'; value: number }
  | { op: 'exists'; value: boolean }
  | { op: 'starts_with' | 'contains'; value: string }
  | { op: 'after' | 'before'; at: Date; text: string }
  | { op: 'within'; seconds: number; text: string };

export type Condition =
  | { kind: 'tags'; tags: string[] }
  | { kind: 'exclude_tags'; tags: string[] }
  | { kind: 'exclude_campaigns'; ids: number[] }
  | { kind: 'test'; subject: Subject; test: Test }
  | { kind: 'engaged'; seconds: number; text: string }
  | { kind: 'any' | 'all'; of: Condition[] };

/** One condition of the audience as the plan lists it: all steps must hold. */
export interface AudienceStep {
  /** What it says, e.g. `attribute seats gte 5`. */
  label: string;
  condition: Condition;
  /** The segment it came from, if any. */
  segment?: string;
}

/**
 * Marketing campaigns skip subscribers who received at least `minCampaigns` campaigns in the
 * last `seconds` and opened or clicked none of them.
 */
export interface SunsetRule {
  seconds: number;
  /** As written, e.g. 180d. */
  text: string;
  minCampaigns: number;
}

export interface AudienceSpec {
  /** The campaign's own tags (the segment's are in `steps`). */
  tags: string[];
  excludeTags: string[];
  /** `audience: { segment: name }`, if any. */
  segment: string | undefined;
  /** Its file, relative to the repository. */
  segmentFile?: string | undefined;
  /** Everything that must hold, in order: the segment's conditions first, then the campaign's. */
  steps: AudienceStep[];
  /** Undefined: no sunsetting (off, or a transactional campaign). */
  sunset: SunsetRule | undefined;
}

/** Report a problem at a YAML node (line and column come from the node's offset). */
export type At = (node: YamlNode | null | undefined, message: string, hint?: string) => void;
