import { isMap, isScalar, isSeq, type Node as YamlNode } from 'yaml';
import type { Config } from '../config/config.js';
import { describe, fields } from '../campaigns/load-campaign.js';
import type { Problem } from '../campaigns/problems.js';
import { readDuration, readWhere } from './parse-conditions.js';
import { readSegment } from './segments.js';
import type { At, AudienceSpec, AudienceStep, SunsetRule } from './types.js';

export const AUDIENCE_KEYS = ['segment', 'tags', 'exclude_tags', 'where', 'exclude_campaigns', 'sunset_after'] as const;
/** What a segment file may say: the conditions of an audience, and a note for people. */
export const SEGMENT_KEYS = ['description', 'tags', 'exclude_tags', 'where', 'exclude_campaigns'] as const;
/** campaigns.id is a Postgres integer. */
const MAX_ID = 2_147_483_647;

export interface AudienceRead {
  audience: AudienceSpec;
  /** Problems located in a segment file. */
  problems: Problem[];
  /** The segment file's bytes, which belong in the campaign's content hash. */
  segmentBytes: Buffer | undefined;
}

/** No `audience:` at all: every active subscriber, with the configured sunsetting. */
export function defaultAudience(config: Pick<Config, 'sunset'>): AudienceSpec {
  return { tags: [], excludeTags: [], segment: undefined, steps: [], sunset: config.sunset };
}

/**
 * A campaign's `audience:` mapping, with its segment's conditions first. A campaign may add
 * conditions of its own to a segment's: all of them must hold.
 */
export function readAudience(node: YamlNode | null | undefined, config: Config, at: At): AudienceRead {
  const audience = defaultAudience(config);
  const read: AudienceRead = { audience, problems: [], segmentBytes: undefined };
  if (!node) return read;
  if (!isMap(node)) {
    at(node, `"audience" must be a mapping, got ${describe(node)}`, 'e.g. audience: { tags: [newsletter], exclude_tags: [churned] }');
    return read;
  }
  const report = at;
  const a = fields(node, AUDIENCE_KEYS, 'audience', report);
  const segmentNode = a.get('segment')?.value;
  if (segmentNode !== undefined) {
    const name = segmentNode && isScalar(segmentNode) && typeof segmentNode.value === 'string' ? segmentNode.value.trim() : undefined;
    if (!name) report(segmentNode, `audience.segment must name a segment, got ${describe(segmentNode)}`, 'e.g. segment: pro-users (the file segments/pro-users.yaml)');
    else {
      const segment = readSegment(name, config.root, (message, hint) => report(segmentNode, message, hint));
      read.problems.push(...segment.problems);
      if (segment.steps) {
        audience.segment = name;
        audience.segmentFile = segment.relFile;
        audience.steps.push(...segment.steps.map((s) => ({ ...s, segment: name })));
        read.segmentBytes = segment.bytes;
      }
    }
  }
  const own = readConditionKeys(a, 'audience', report);
  audience.tags = own.tags;
  audience.excludeTags = own.excludeTags;
  audience.steps.push(...own.steps);
  const both = own.tags.filter((t) => own.excludeTags.includes(t));
  if (both.length > 0) report(node, `tag ${both.map((t) => `"${t}"`).join(', ')} is both included and excluded`, 'an excluded tag always wins, so nobody with it would get this');

  const sunsetNode = a.get('sunset_after')?.value;
  if (sunsetNode !== undefined) {
    const override = readSunsetOverride(sunsetNode, config, report);
    if (override !== 'bad') audience.sunset = override;
  }
  return read;
}

/** `sunset_after: off` (or false) turns sunsetting off for this campaign; a duration sets its period. */
function readSunsetOverride(node: YamlNode | null, config: Config, at: At): SunsetRule | undefined | 'bad' {
  if (node && isScalar(node) && (node.value === false || node.value === 'off')) return undefined;
  const d = readDuration(node, 'audience.sunset_after', at);
  if (!d) return 'bad';
  return { seconds: d.seconds, text: d.text, minCampaigns: config.sunsetMinCampaigns };
}

/** tags, exclude_tags, where and exclude_campaigns of a campaign's audience or of a segment file. */
export function readConditionKeys(
  a: Map<string, { value: YamlNode | null }>,
  where: string,
  at: At,
): { tags: string[]; excludeTags: string[]; steps: AudienceStep[] } {
  const tags = readTextList(a.get('tags')?.value, `${where}.tags`, at);
  const excludeTags = readTextList(a.get('exclude_tags')?.value, `${where}.exclude_tags`, at);
  const steps: AudienceStep[] = [];
  if (tags.length > 0) steps.push({ label: `tags any of [${tags.join(', ')}]`, condition: { kind: 'tags', tags } });
  if (excludeTags.length > 0) steps.push({ label: `exclude_tags [${excludeTags.join(', ')}]`, condition: { kind: 'exclude_tags', tags: excludeTags } });
  steps.push(...(readWhere(a.get('where')?.value, `${where}.where`, at) ?? []));
  const ids = readIds(a.get('exclude_campaigns')?.value, `${where}.exclude_campaigns`, at);
  if (ids.length > 0) steps.push({ label: `exclude_campaigns [${ids.join(', ')}]`, condition: { kind: 'exclude_campaigns', ids } });
  return { tags, excludeTags, steps };
}

function readTextList(node: YamlNode | null | undefined, key: string, at: At): string[] {
  if (!node) return [];
  if (!isSeq(node)) {
    at(node, `"${key}" must be a list, got ${describe(node)}`, `e.g. ${key.split('.').pop()}: [newsletter]`);
    return [];
  }
  const out: string[] = [];
  for (const item of node.items as (YamlNode | null)[]) {
    const v = item && isScalar(item) && typeof item.value === 'string' ? item.value.trim() : '';
    if (v === '' || /[\r\n]/.test(v)) at(item, `"${key} item" must be text on one line, got ${describe(item)}`, isScalar(item) && item.value !== null ? 'put it in quotes' : undefined);
    else out.push(v);
  }
  return out;
}

function readIds(node: YamlNode | null | undefined, key: string, at: At): number[] {
  if (!node) return [];
  if (!isSeq(node)) {
    at(node, `"${key}" must be a list of campaign ids, got ${describe(node)}`, `e.g. exclude_campaigns: [41]`);
    return [];
  }
  const out: number[] = [];
  for (const item of node.items as (YamlNode | null)[]) {
    const v = item && isScalar(item) ? item.value : undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > MAX_ID) at(item, `"${key}" items must be campaign ids (whole numbers from 1), got ${describe(item)}`, 'the id: of the campaign whose recipients to leave out');
    else out.push(v);
  }
  return out;
}
