import { existsSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, isMap, parseDocument, type Node as YamlNode } from 'yaml';
import { readConfined } from '../campaigns/confined-file.js';
import { describe, fields } from '../campaigns/load-campaign.js';
import type { Problem } from '../campaigns/problems.js';
import { readConditionKeys, SEGMENT_KEYS } from './read-audience.js';
import type { At, AudienceStep } from './types.js';

/** A segment is a few conditions; a file this big is a mistake. */
export const MAX_SEGMENT_FILE_BYTES = 64 * 1024;
/** A segment's name is its file's name in segments/: no folders, no dots. */
const SEGMENT_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;

export interface SegmentRead {
  /** undefined when the segment cannot be used (the reason is reported). */
  steps: AudienceStep[] | undefined;
  /** Problems inside the segment file, at their line and column there. */
  problems: Problem[];
  bytes: Buffer | undefined;
  /** segments/<name>.yaml, relative to the repository. */
  relFile: string | undefined;
}

/**
 * segments/<name>.yaml (or .yml) under the repository root, read through the same confinement
 * as templates: after symlinks it must be a regular file inside the repository, at most 64 KB.
 * `refuse` reports a problem with the reference itself (at the campaign's `segment:`).
 */
export function readSegment(name: string, root: string, refuse: (message: string, hint?: string) => void): SegmentRead {
  const none: SegmentRead = { steps: undefined, problems: [], bytes: undefined, relFile: undefined };
  if (!SEGMENT_NAME.test(name)) {
    refuse(`segment "${name}" is not a segment name`, 'letters, digits, - and _: the name of a file in segments/ without .yaml, e.g. segment: pro-users');
    return none;
  }
  const yml = path.join(root, 'segments', `${name}.yml`);
  const file = existsSync(yml) && !existsSync(path.join(root, 'segments', `${name}.yaml`)) ? yml : path.join(root, 'segments', `${name}.yaml`);
  const relFile = path.relative(root, file).split(path.sep).join('/');
  const read = readConfined(file, root, MAX_SEGMENT_FILE_BYTES);
  if (!read.ok) {
    refuse(`segment "${name}": ${relFile} ${read.reason}`, read.reason === 'not found' ? 'segments live in segments/<name>.yaml next to marketer.yaml' : read.hint?.replace('templates and partials', 'segment files'));
    return none;
  }
  const problems: Problem[] = [];
  const lc = new LineCounter();
  const doc = parseDocument(read.bytes.toString('utf8'), { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const at: At = (node: YamlNode | null | undefined, message: string, hint?: string) => {
    const p = lc.linePos(node?.range?.[0] ?? 0);
    problems.push({ file: relFile, line: p.line, col: p.col, message, ...(hint ? { hint } : {}) });
  };
  for (const e of doc.errors) {
    const p = lc.linePos(e.pos[0]);
    problems.push({ file: relFile, line: p.line, col: p.col, message: `YAML syntax: ${e.message.split('\n')[0]}`, hint: 'values with ": " or "#" need quotes' });
  }
  if (doc.errors.length > 0) return { ...none, problems, relFile };
  if (!isMap(doc.contents)) {
    at(doc.contents, `a segment file must be a mapping of conditions, got ${describe(doc.contents)}`, 'e.g. tags: [newsletter] and where: [{ attribute: plan, in: [pro, team] }]');
    return { ...none, problems, relFile };
  }
  const keys = fields(doc.contents, SEGMENT_KEYS, 'segment', at);
  const own = readConditionKeys(keys, 'segment', at);
  if (problems.length > 0) return { ...none, problems, relFile };
  return { steps: own.steps, problems, bytes: read.bytes, relFile };
}
