import path from 'node:path';
import { isMap, isScalar, isSeq, type Node as YamlNode, type Pair } from 'yaml';
import { hasLineBreak } from '../campaigns/addresses.js';
import { readConfined } from '../campaigns/confined-file.js';
import { closest } from '../campaigns/problems.js';
import { describe, parseDuration } from '../campaigns/yaml-values.js';
import { resolveIncludes } from '../campaigns/resolve-includes.js';
import { analyseTemplate, MESSAGE_VARIABLES } from '../campaigns/template-variables.js';
import type { Experiment, LoadedVariant, TestMetric, TestSettings } from './types.js';

export const VARIANT_KEYS = ['name', 'subject', 'preheader', 'template'] as const;
export const TEST_KEYS = ['share', 'metric', 'decide_after'] as const;
/** More variants split a test share so thin that none of them says anything. */
export const MAX_VARIANTS = 10;
/** A test's decision waits at most this long: waves span about 26 hours. */
const MAX_DECIDE_AFTER_SECONDS = 7 * 86400;
const MIN_DECIDE_AFTER_SECONDS = 60;
/** SES EmailTag values: ASCII letters, digits, _ and -. */
const NAME = /^[A-Za-z0-9_-]{1,32}$/;

type At = (node: YamlNode | null | undefined, message: string, hint?: string) => void;

export interface VariantContext {
  /** The folder holding marketer.yaml: variant templates stay inside it. */
  root: string;
  rel: (abs: string) => string;
  at: At;
  /** The line a node starts on. */
  line: (node: YamlNode) => number;
}

/**
 * Read `variants:` and `test:` of a campaign file, reporting every problem at its line and
 * column. Variant templates are read like the campaign's: confined to the repository, size
 * limited, every mj-include resolved. Returns undefined when the file has neither key (or has
 * problems, which are reported).
 */
export function parseExperiment(variantsNode: YamlNode | null | undefined, testNode: YamlNode | null | undefined, o: VariantContext): Experiment | undefined {
  if (variantsNode === undefined && testNode === undefined) return undefined;
  const { at } = o;
  if (variantsNode === undefined) {
    at(testNode, '"test" needs "variants" to test', 'e.g. variants: [{ name: a, subject: "…" }, { name: b, subject: "…" }]');
    return undefined;
  }
  const variants = readVariants(variantsNode, o);
  let test: TestSettings | undefined;
  if (testNode === undefined) at(variantsNode, '"variants" needs a "test" saying how to choose the winner', 'e.g. test: { share: 0.2, metric: clicks, decide_after: 4h }');
  else test = readTest(testNode, at);
  return variants && test ? { variants, test } : undefined;
}

function readVariants(node: YamlNode | null, o: VariantContext): LoadedVariant[] | undefined {
  const { at } = o;
  if (!node || !isSeq(node)) {
    at(node, `"variants" must be a list, got ${describe(node)}`, 'e.g. variants: [{ name: a, subject: "…" }, { name: b, template: templates/b.mjml }]');
    return undefined;
  }
  const items = node.items as (YamlNode | null)[];
  let ok = true;
  if (items.length < 2 || items.length > MAX_VARIANTS) {
    at(node, `"variants" must list 2 to ${MAX_VARIANTS} variants, got ${items.length}`, 'a test compares at least two versions; more than ten split the test share too thin to tell them apart');
    ok = false;
  }
  const variants: LoadedVariant[] = [];
  const names = new Map<string, YamlNode>();
  items.forEach((item, index) => {
    const v = readVariant(item, index, o);
    if (!v) ok = false;
    else variants.push(v);
    const nameNode = isMap(item) ? (item.get('name', true) as YamlNode | undefined) : undefined;
    const name = isScalar(nameNode) && typeof nameNode.value === 'string' ? nameNode.value : undefined;
    if (!nameNode || name === undefined) return;
    const first = names.get(name.toLowerCase());
    if (first) {
      at(nameNode, `variant name "${name}" is used twice (also at line ${o.line(first)})`, 'each variant needs its own name: it is recorded on every delivery and in the stats');
      ok = false;
    } else names.set(name.toLowerCase(), nameNode);
    if (name.toLowerCase() === 'a' && index > 0) {
      at(nameNode, 'variant "a" must come first', 'the first variant is the default, which the rest gets when the test cannot tell (a tie, or too few events): list "a" first');
      ok = false;
    }
  });
  return ok ? variants : undefined;
}

function readVariant(node: YamlNode | null, index: number, o: VariantContext): LoadedVariant | undefined {
  const { at } = o;
  const where = `variants[${index}]`;
  if (!node || !isMap(node)) {
    at(node, `${where} must be a mapping, got ${describe(node)}`, 'e.g. - { name: b, subject: "{{ first_name }}, 3 things we shipped" }');
    return undefined;
  }
  const f = fields(node, VARIANT_KEYS, where, at);
  let ok = f.ok;
  const nameNode = f.pairs.get('name')?.value;
  const name = nameNode === undefined ? undefined : text(nameNode, `${where}.name`, at);
  if (nameNode === undefined) {
    at(node, `${where} has no "name"`, 'e.g. name: b (letters, digits, _ and -)');
    ok = false;
  } else if (name === undefined) ok = false;
  else if (!NAME.test(name)) {
    at(nameNode, `variant name "${name}" may use only letters, digits, _ and - (at most 32)`, 'it travels as an SES message tag, which allows nothing else');
    ok = false;
  }
  const headers: Record<'subject' | 'preheader', string | undefined> = { subject: undefined, preheader: undefined };
  for (const key of ['subject', 'preheader'] as const) {
    const n = f.pairs.get(key)?.value;
    if (n === undefined) continue;
    const value = text(n, `${where}.${key}`, at, { oneLine: true, nonEmpty: key === 'subject' });
    if (value === undefined) {
      ok = false;
      continue;
    }
    for (const p of analyseTemplate(value, MESSAGE_VARIABLES).problems) {
      at(n, `${where}.${key}: ${p.message}`, p.hint);
      ok = false;
    }
    headers[key] = value;
  }
  let templatePath: string | undefined;
  let relTemplate: string | undefined;
  let sources: LoadedVariant['sources'] = [];
  const templateNode = f.pairs.get('template')?.value;
  if (templateNode !== undefined) {
    const templateRel = text(templateNode, `${where}.template`, at, { oneLine: true, nonEmpty: true });
    if (templateRel === undefined) ok = false;
    else {
      const abs = path.resolve(o.root, templateRel);
      const read = readConfined(abs, o.root);
      if (!read.ok) {
        at(templateNode, `template "${templateRel}" ${read.reason}${read.reason === 'not found' ? ` (looked for ${o.rel(abs)})` : ''}`, read.hint ?? 'template paths are relative to the folder holding marketer.yaml, e.g. templates/weekly-b.mjml');
        ok = false;
      } else {
        if (!/\.mjml$/i.test(abs)) {
          at(templateNode, `template "${templateRel}" is not an .mjml file`, 'marketer compiles MJML templates');
          ok = false;
        }
        const included = resolveIncludes(read.bytes.toString('utf8'), { templatePath: abs, relTemplate: o.rel(abs), root: o.root });
        for (const p of included.problems) {
          at(templateNode, `mj-include "${p.includePath}" (${p.file}:${p.line}) ${p.reason}`, p.hint);
          ok = false;
        }
        templatePath = abs;
        relTemplate = o.rel(abs);
        sources = included.sources;
      }
    }
  }
  if (!ok || name === undefined) return undefined;
  return { name, subject: headers.subject, preheader: headers.preheader, templatePath, relTemplate, sources };
}

function readTest(node: YamlNode | null, at: At): TestSettings | undefined {
  if (!node || !isMap(node)) {
    at(node, `"test" must be a mapping, got ${describe(node)}`, 'e.g. test: { share: 0.2, metric: clicks, decide_after: 4h }');
    return undefined;
  }
  const f = fields(node, TEST_KEYS, 'test', at);
  let ok = f.ok;
  const shareNode = f.pairs.get('share')?.value;
  const share = isScalar(shareNode) && typeof shareNode.value === 'number' ? shareNode.value : undefined;
  if (shareNode === undefined) {
    at(node, 'test has no "share"', 'the share of the audience that gets the test, e.g. share: 0.2 (20%); the rest gets the winner');
    ok = false;
  } else if (share === undefined || !(share > 0 && share < 1)) {
    at(shareNode, `test.share must be a number between 0 and 1 (exclusive), got ${describe(shareNode)}`, 'e.g. share: 0.2 tests on 20% of the audience and sends the winner to the other 80%');
    ok = false;
  }
  let metric: TestMetric = 'clicks';
  const metricNode = f.pairs.get('metric')?.value;
  if (metricNode !== undefined) {
    const m = text(metricNode, 'test.metric', at);
    if (m === 'clicks' || m === 'opens') metric = m;
    else {
      if (m !== undefined) at(metricNode, `test.metric must be "clicks" or "opens", got "${m}"`, 'clicks: unique click rate (the stronger signal); opens: unique open rate (inflated by Apple Mail Privacy Protection)');
      ok = false;
    }
  }
  const decideNode = f.pairs.get('decide_after')?.value;
  let decideAfterSeconds: number | undefined;
  if (decideNode === undefined) {
    at(node, 'test has no "decide_after"', 'how long the test runs before the winner is chosen, e.g. decide_after: 4h');
    ok = false;
  } else {
    const raw = isScalar(decideNode) && (typeof decideNode.value === 'string' || typeof decideNode.value === 'number') ? String(decideNode.value) : undefined;
    decideAfterSeconds = raw === undefined ? undefined : parseDuration(raw);
    if (decideAfterSeconds === undefined || decideAfterSeconds < MIN_DECIDE_AFTER_SECONDS || decideAfterSeconds > MAX_DECIDE_AFTER_SECONDS) {
      at(decideNode, `test.decide_after must be a duration from 1m to 7d, got ${describe(decideNode)}`, 'e.g. 4h, 90m, 1h30m, 1d');
      ok = false;
    }
  }
  return ok && share !== undefined && decideAfterSeconds !== undefined ? { share, metric, decideAfterSeconds } : undefined;
}

function fields(map: YamlNode, known: readonly string[], where: string, at: At): { pairs: Map<string, Pair<YamlNode, YamlNode | null>>; ok: boolean } {
  const pairs = new Map<string, Pair<YamlNode, YamlNode | null>>();
  let ok = true;
  if (!isMap(map)) return { pairs, ok: false };
  for (const pair of map.items as Pair<YamlNode, YamlNode | null>[]) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!known.includes(key)) {
      const guess = closest(key, known);
      at(pair.key, `unknown key "${key}" in ${where}`, guess ? `did you mean "${guess}"?` : `known keys: ${known.join(', ')}`);
      ok = false;
      continue;
    }
    pairs.set(key, pair);
  }
  return { pairs, ok };
}

function text(node: YamlNode | null | undefined, key: string, at: At, opts: { oneLine?: boolean; nonEmpty?: boolean } = {}): string | undefined {
  if (!node || !isScalar(node) || typeof node.value !== 'string') {
    at(node, `"${key}" must be text, got ${describe(node ?? null)}`, isScalar(node) && node.value !== null ? 'put it in quotes' : undefined);
    return undefined;
  }
  if (opts.oneLine && hasLineBreak(node.value)) {
    at(node, `"${key}" contains a line break`, 'it goes into a mail header, where CR/LF could inject headers: keep it on one line');
    return undefined;
  }
  if (opts.nonEmpty && node.value.trim() === '') {
    at(node, `"${key}" is empty`);
    return undefined;
  }
  return node.value;
}
