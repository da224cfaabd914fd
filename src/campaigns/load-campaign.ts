import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { DateTime } from 'luxon';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node as YamlNode, type Pair } from 'yaml';
import { isValidZone, type Config } from '../config/config.js';
import { inputError } from '../errors.js';
import { readAudience } from '../audience/read-audience.js';
import { hasLineBreak, mailboxProblem } from './addresses.js';
import { readConfined } from './confined-file.js';
import { closest, formatProblem, type Problem } from './problems.js';
import { resolveIncludes, type TemplateSource } from './resolve-includes.js';
import type { CampaignSchedule, LoadedCampaign } from './types.js';
import { resolveUnsubscribe } from './unsubscribe-mode.js';
import { describe, parseDuration } from './yaml-values.js';

export { describe, parseDuration } from './yaml-values.js';

/** The keys of a campaign file and of its nested mappings, for "unknown key" checks. */
export const CAMPAIGN_KEYS = [
  'id', 'name', 'subject', 'preheader', 'from', 'reply_to', 'template', 'data', 'audience', 'schedule', 'utm', 'transactional',
  'variants', 'test',
] as const;
const SCHEDULE_KEYS = ['at', 'timezone', 'late', 'late_grace'];
export const UTM_KEYS = ['source', 'medium', 'campaign', 'term', 'content'];
const REQUIRED = ['id', 'name', 'subject', 'template'] as const;
/** campaigns.id is a Postgres integer. */
const MAX_ID = 2_147_483_647;
const DEFAULT_GRACE_SECONDS = 6 * 3600;
const MAX_GRACE_SECONDS = 7 * 86400;

export interface CampaignReport {
  campaigns: LoadedCampaign[];
  problems: Problem[];
  /**
   * Campaigns with problems of their own but a readable template, filled in with stand-ins, so
   * that validate can check the template in the same run. Never to be planned or sent.
   */
  drafts: LoadedCampaign[];
}

/** Load one campaign file; throws MarketerError(2) listing every problem in it. */
export async function loadCampaign(file: string, config: Config): Promise<LoadedCampaign> {
  const { campaign, problems } = await readCampaign(path.resolve(file), config);
  if (!campaign || problems.length > 0) throw campaignError(problems);
  return campaign;
}

/**
 * Load every campaign under `paths` (files or folders, searched recursively for *.yaml / *.yml;
 * default: <root>/campaigns), checking that ids are unique across them. Throws one
 * MarketerError(2) listing every problem in every file.
 */
export async function loadCampaigns(paths: string[], config: Config): Promise<LoadedCampaign[]> {
  const report = await checkCampaigns(paths, config);
  if (report.problems.length > 0) throw campaignError(report.problems);
  return report.campaigns;
}

/** Like loadCampaigns, but returns the good campaigns beside the problems instead of throwing. */
export async function checkCampaigns(paths: string[], config: Config): Promise<CampaignReport> {
  const problems: Problem[] = [];
  const files = await findCampaignFiles(paths.length > 0 ? paths : [path.join(config.root, 'campaigns')], config, problems);
  const campaigns: LoadedCampaign[] = [];
  const drafts: LoadedCampaign[] = [];
  const ids = new Map<number, { relFile: string; line: number; col: number }[]>();
  for (const file of files) {
    const result = await readCampaign(file, config);
    // A segment several campaigns name reports its own problems once.
    const seen = new Set(problems.map(formatProblem));
    problems.push(...result.problems.filter((p) => !seen.has(formatProblem(p))));
    if (result.id) ids.set(result.id.value, [...(ids.get(result.id.value) ?? []), { relFile: rel(config, file), line: result.id.line, col: result.id.col }]);
    if (result.campaign && result.problems.length === 0) campaigns.push(result.campaign);
    else if (result.draft) drafts.push(result.draft);
  }
  const duplicated = new Set<string>();
  for (const [id, places] of ids) {
    if (places.length < 2) continue;
    for (const place of places) {
      const others = places.filter((p) => p !== place).map((p) => `${p.relFile}:${p.line}`);
      duplicated.add(place.relFile);
      problems.push({
        file: place.relFile,
        line: place.line,
        col: place.col,
        message: `id ${id} is also used by ${others.join(', ')}`,
        hint: 'ids are how marketer tracks a campaign\'s sends and stats, so each file needs its own: pick an unused number',
      });
    }
  }
  return {
    campaigns: campaigns.filter((c) => !duplicated.has(c.relFile)),
    problems,
    drafts: [...drafts, ...campaigns.filter((c) => duplicated.has(c.relFile))],
  };
}

export function campaignError(problems: Problem[]) {
  const files = new Set(problems.map((p) => p.file));
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  return inputError(
    'CAMPAIGN_INVALID',
    files.size === 1 ? `${[...files][0]}: ${count}:` : `${count} in ${files.size} campaign files:`,
    {
      details: problems.map(formatProblem),
      hint: 'The campaign file format is described in docs/campaign-file.md and in `marketer validate --help`.',
    },
  );
}

function rel(config: Config, file: string): string {
  const r = path.relative(config.root, file);
  return r.startsWith('..') ? file : r.split(path.sep).join('/');
}

async function findCampaignFiles(paths: string[], config: Config, problems: Problem[]): Promise<string[]> {
  const files: string[] = [];
  for (const p of paths) {
    const abs = path.resolve(config.root, p);
    const info = await stat(abs).catch(() => undefined);
    if (!info) {
      problems.push({ file: rel(config, abs), line: 1, col: 1, message: 'no such file or folder', hint: 'pass campaign files or folders; the default is campaigns/' });
      continue;
    }
    if (info.isFile()) {
      files.push(abs);
      continue;
    }
    const found = (await readdir(abs, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile() && /\.ya?ml$/i.test(e.name))
      .map((e) => path.join(e.parentPath, e.name))
      .sort();
    if (found.length === 0) {
      problems.push({ file: rel(config, abs), line: 1, col: 1, message: 'no campaign files (*.yaml) here', hint: 'create one, e.g. campaigns/weekly.yaml (see docs/campaign-file.md)' });
    }
    files.push(...found);
  }
  return [...new Set(files)];
}

interface ReadResult {
  campaign: LoadedCampaign | undefined;
  draft?: LoadedCampaign;
  problems: Problem[];
  id: { value: number; line: number; col: number } | undefined;
}

/**
 * The template checks (Nunjucks' parser and its lists of filters and tests: 60 ms of CPU to
 * load), loaded when the first campaign file has been read rather than before a command starts.
 */
const templateChecks = () => Promise.all([import('./template-variables.js'), import('../experiments/parse-variants.js')]);

async function readCampaign(file: string, config: Config): Promise<ReadResult> {
  const relFile = rel(config, file);
  const problems: Problem[] = [];
  // Named on the command line, a campaign file may live anywhere; its size is limited all the same.
  const read = readConfined(file, undefined);
  if (!read.ok) {
    problems.push({ file: relFile, line: 1, col: 1, message: `the campaign file ${read.reason}`, ...(read.hint ? { hint: read.hint } : {}) });
    return { campaign: undefined, problems, id: undefined };
  }
  const bytes = read.bytes;
  const lc = new LineCounter();
  const doc = parseDocument(bytes.toString('utf8'), { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const pos = (offset: number | undefined) => lc.linePos(offset ?? 0);
  const at = (node: YamlNode | null | undefined, message: string, hint?: string) => {
    const p = pos(node?.range?.[0]);
    problems.push({ file: relFile, line: p.line, col: p.col, message, ...(hint ? { hint } : {}) });
  };
  for (const e of doc.errors) {
    const p = pos(e.pos[0]);
    problems.push({ file: relFile, line: p.line, col: p.col, message: `YAML syntax: ${e.message.split('\n')[0]}`, hint: 'values with ": " or "#" need quotes' });
  }
  if (doc.errors.length > 0) return { campaign: undefined, problems, id: undefined };
  if (!isMap(doc.contents)) {
    at(doc.contents, 'a campaign file must be a mapping of key: value', 'start from campaigns/weekly.yaml');
    return { campaign: undefined, problems, id: undefined };
  }
  const top = fields(doc.contents, CAMPAIGN_KEYS, 'campaign', at);
  const r = new Reader(at);

  for (const key of REQUIRED) if (!top.has(key)) at(doc.contents, `missing required key "${key}"`, requiredHint(key));

  const idNode = top.get('id')?.value;
  const id = r.integer(idNode, 'id', 1, MAX_ID, 'a stable number of your choosing, e.g. 42, used by `marketer stats 42`');
  const idPos = idNode && id !== undefined ? { value: id, ...pos(idNode.range?.[0]) } : undefined;
  const name = r.text(top.get('name')?.value, 'name', { oneLine: true, nonEmpty: true });
  const subjectNode = top.get('subject')?.value;
  const subject = r.text(subjectNode, 'subject', { oneLine: true, nonEmpty: true });
  const preheaderNode = top.get('preheader')?.value;
  const preheader = preheaderNode ? r.text(preheaderNode, 'preheader', { oneLine: true }) : undefined;

  const fromNode = top.get('from')?.value;
  let from = fromNode ? r.text(fromNode, 'from') : config.from;
  if (from !== undefined) {
    const problem = mailboxProblem(from);
    if (problem) {
      if (fromNode) at(fromNode, `from: ${problem}`);
      else at(doc.contents, `from (from marketer.yaml): ${problem}`);
      from = undefined;
    }
  } else if (!fromNode) {
    at(doc.contents, 'no sender: set "from" in this file or in marketer.yaml', 'e.g. from: "Jane from App <jane@example.com>"; the address must be verified in SES');
  }

  const replyToNode = top.get('reply_to')?.value;
  let replyToList: string[] = [];
  if (replyToNode) replyToList = r.textList(replyToNode, 'reply_to', true) ?? [];
  else if (config.replyTo) replyToList = config.replyTo.split(',').map((s) => s.trim()).filter(Boolean);
  for (const address of replyToList) {
    const problem = mailboxProblem(address);
    if (problem) at(replyToNode ?? doc.contents, `reply_to: ${problem}`);
  }

  const templateNode = top.get('template')?.value;
  const templateRel = r.text(templateNode, 'template', { nonEmpty: true, oneLine: true });
  let templatePath: string | undefined;
  let sources: TemplateSource[] = [];
  if (templateRel !== undefined) {
    templatePath = path.resolve(config.root, templateRel);
    const template = readConfined(templatePath, config.root);
    if (!template.ok) {
      at(templateNode, `template "${templateRel}" ${template.reason}${template.reason === 'not found' ? ` (looked for ${rel(config, templatePath)})` : ''}`, template.hint ?? 'template paths are relative to the folder holding marketer.yaml, e.g. templates/weekly.mjml');
      templatePath = undefined;
    } else {
      if (!/\.mjml$/i.test(templatePath)) at(templateNode, `template "${templateRel}" is not an .mjml file`, 'marketer compiles MJML templates');
      const included = resolveIncludes(template.bytes.toString('utf8'), { templatePath, relTemplate: rel(config, templatePath), root: config.root });
      sources = included.sources;
      // Located at the campaign's template line, naming the file and line of the mj-include.
      for (const p of included.problems) at(templateNode, `mj-include "${p.includePath}" (${p.file}:${p.line}) ${p.reason}`, p.hint);
    }
  }

  const dataNode = top.get('data')?.value;
  let data: Record<string, unknown> = {};
  if (dataNode) {
    if (!isMap(dataNode)) at(dataNode, `"data" must be a mapping of name: value, got ${describe(dataNode)}`, 'e.g. data: { hero_url: "https://…" }');
    else {
      for (const pair of dataNode.items) {
        const k = isScalar(pair.key) ? pair.key.value : undefined;
        if (typeof k !== 'string' || !/^[A-Za-z][A-Za-z0-9_]*$/.test(k)) {
          at(pair.key as YamlNode, `data key ${JSON.stringify(k ?? null)} is not usable in a template`, 'start with a letter, then letters, digits and _ (data.hero_url); names starting with _ are not readable by templates');
        }
      }
      // From the document, so that an alias (link: *url) is the value it points to.
      const js = doc.toJS({ maxAliasCount: 100 }) as Record<string, unknown>;
      data = js.data as Record<string, unknown>;
    }
  }

  const audienceRead = readAudience(top.get('audience')?.value, config, at);
  problems.push(...audienceRead.problems);
  const audience = audienceRead.audience;

  const schedule = readSchedule(top.get('schedule')?.value, r, at);

  let utm: Record<string, string> | undefined;
  const utmNode = top.get('utm')?.value;
  if (utmNode) {
    if (!isMap(utmNode)) at(utmNode, `"utm" must be a mapping, got ${describe(utmNode)}`, 'e.g. utm: { source: newsletter, medium: email, campaign: weekly-48 }');
    else {
      const u = fields(utmNode, UTM_KEYS, 'utm', at);
      utm = {};
      for (const key of UTM_KEYS) {
        const value = r.text(u.get(key)?.value, `utm.${key}`, { oneLine: true, nonEmpty: true });
        if (value !== undefined) utm[`utm_${key}`] = value;
      }
    }
  }

  const transactionalNode = top.get('transactional')?.value;
  let transactional = false;
  if (transactionalNode) {
    if (isScalar(transactionalNode) && typeof transactionalNode.value === 'boolean') transactional = transactionalNode.value;
    else at(transactionalNode, `"transactional" must be true or false, got ${describe(transactionalNode)}`);
  }

  // Sunsetting is for marketing: a receipt goes to everyone who asked for it.
  if (transactional) audience.sunset = undefined;
  const unsubscribe = resolveUnsubscribe(config, transactional);
  const warnings: string[] = [];
  if (unsubscribe.problem) at(doc.contents, unsubscribe.problem.message, unsubscribe.problem.hint);
  if (unsubscribe.warning) warnings.push(unsubscribe.warning);

  // Subject and preheader are Nunjucks too: check their syntax and names here, where the YAML
  // position is known, rather than at send time.
  const [{ analyseTemplate, dataPathsRead, MESSAGE_VARIABLES }, { parseExperiment }] = await templateChecks();
  const known = [...MESSAGE_VARIABLES];
  const headerProblems = { subject: subject === undefined && subjectNode !== undefined, preheader: preheader === undefined && preheaderNode !== undefined };
  for (const [node, value, key] of [[subjectNode, subject, 'subject'], [preheaderNode, preheader, 'preheader']] as const) {
    if (!node || value === undefined) continue;
    for (const p of analyseTemplate(value, known).problems) {
      at(node, `${key}: ${p.message}`, p.hint);
      headerProblems[key] = true;
    }
    // A data value with a line break that the subject prints would fail every delivery (CR/LF
    // never reaches a header): say so now, at the value.
    if (dataNode && isMap(dataNode)) {
      for (const dataPath of dataPathsRead(value)) {
        for (const found of lineBreaksUnder(data, dataNode, dataPath)) {
          at(found.node ?? dataNode, `data.${found.path.join('.')} contains a line break, and the ${key} uses it`, 'CR/LF could inject mail headers: keep values used in the subject or preheader on one line');
        }
      }
    }
  }

  const experiment = parseExperiment(top.get('variants')?.value, top.get('test')?.value, {
    root: config.root, rel: (abs) => rel(config, abs), at, line: (node) => pos(node.range?.[0]).line,
  });

  const hash = createHash('sha256').update(bytes);
  if (sources.length > 0) {
    hash.update(sources[0]!.text);
    for (const partial of sources.slice(1)) hash.update(`\0${partial.file}\0`).update(partial.text);
  }
  // A segment decides who gets the campaign as much as the file does.
  if (audienceRead.segmentBytes) hash.update(`\0${audience.segmentFile}\0`).update(audienceRead.segmentBytes);
  // A variant's template is part of what is frozen once sending begins.
  for (const v of experiment?.variants ?? []) for (const s of v.sources) hash.update(`\0variant ${v.name}\0${s.file}\0`).update(s.text);
  const tpl = templatePath;
  const sender = from;
  const campaign: LoadedCampaign | undefined =
    id !== undefined && name !== undefined && subject !== undefined && sender !== undefined && tpl !== undefined && schedule && unsubscribe.mode
    ? {
        id,
        name,
        file,
        relFile,
        subject,
        preheader: preheader || undefined,
        from: sender.trim(),
        replyTo: replyToList.length > 0 ? replyToList.join(', ') : undefined,
        replyToList,
        templatePath: tpl,
        relTemplate: rel(config, tpl),
        sources,
        data,
        audience,
        schedule,
        utm,
        transactional,
        contentHash: hash.digest('hex'),
        unsubscribe: unsubscribe.mode,
        warnings,
        ...(experiment ? { experiment } : {}),
      }
    : undefined;
  // What the template check needs, with stand-ins for what is missing or wrong (each already
  // reported): a subject or preheader with problems is left out rather than reported twice.
  const draft: LoadedCampaign | undefined = tpl !== undefined && (!campaign || problems.length > 0)
    ? {
        id: id ?? 0,
        name: name ?? relFile,
        file,
        relFile,
        subject: headerProblems.subject ? '' : subject ?? '',
        preheader: headerProblems.preheader ? undefined : preheader || undefined,
        from: sender?.trim() ?? '',
        replyTo: undefined,
        replyToList: [],
        templatePath: tpl,
        relTemplate: rel(config, tpl),
        sources,
        data,
        audience,
        schedule: schedule ?? { at: undefined, timezone: 'subscriber', late: 'send', lateGraceSeconds: DEFAULT_GRACE_SECONDS },
        utm,
        transactional,
        contentHash: '',
        unsubscribe: unsubscribe.mode ?? { kind: 'token', baseUrl: 'https://unsubscribe.invalid/u', secret: 'draft', development: true },
        warnings: [],
      }
    : undefined;
  return { campaign, draft, problems, id: idPos };
}

export type At = (node: YamlNode | null | undefined, message: string, hint?: string) => void;

/** Every string under data.<path> with a CR or LF, with its YAML node where there is one. */
function lineBreaksUnder(data: Record<string, unknown>, dataNode: YamlNode, start: string[]): { path: string[]; node: YamlNode | undefined }[] {
  const found: { path: string[]; node: YamlNode | undefined }[] = [];
  const nodeAt = (p: string[]) => (isMap(dataNode) ? (dataNode.getIn(p, true) as YamlNode | undefined) : undefined);
  const walk = (value: unknown, p: string[], depth: number) => {
    if (depth > 20) return;
    if (typeof value === 'string') {
      if (hasLineBreak(value)) found.push({ path: p, node: nodeAt(p) });
    } else if (Array.isArray(value)) value.forEach((v, i) => walk(v, [...p, String(i)], depth + 1));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, [...p, k], depth + 1);
  };
  let value: unknown = data;
  for (const key of start) {
    value = value && typeof value === 'object' && Object.hasOwn(value, key) ? (value as Record<string, unknown>)[key] : undefined;
  }
  walk(value, start, 0);
  return found;
}

/** The pairs of a mapping by key, reporting unknown keys with the nearest known one. */
export function fields(map: YamlNode, known: readonly string[], where: string, at: At): Map<string, Pair<YamlNode, YamlNode | null>> {
  const out = new Map<string, Pair<YamlNode, YamlNode | null>>();
  if (!isMap(map)) return out;
  for (const pair of map.items as Pair<YamlNode, YamlNode | null>[]) {
    const key = isScalar(pair.key) ? String(pair.key.value) : '';
    if (!known.includes(key)) {
      const guess = closest(key, known);
      at(pair.key, `unknown key "${key}" in ${where}`, guess ? `did you mean "${guess}"?` : `known keys: ${known.join(', ')}`);
      continue;
    }
    out.set(key, pair);
  }
  return out;
}

function requiredHint(key: string): string {
  switch (key) {
    case 'id': return 'a stable number, e.g. id: 42';
    case 'name': return 'e.g. name: Weekly update, week 48';
    case 'subject': return 'e.g. subject: "{{ first_name | default(\'there\') }}, this week in the app"';
    default: return 'e.g. template: templates/weekly.mjml';
  }
}

/** Typed reads of YAML values that report what was wrong and where. */
class Reader {
  constructor(private readonly at: At) {}

  text(node: YamlNode | null | undefined, key: string, opts: { oneLine?: boolean; nonEmpty?: boolean } = {}): string | undefined {
    if (!node) return undefined;
    if (!isScalar(node) || typeof node.value !== 'string') {
      const hint = isScalar(node) && node.value !== null ? 'put it in quotes' : undefined;
      this.at(node, `"${key}" must be text, got ${describe(node)}`, hint);
      return undefined;
    }
    const value = node.value;
    if (opts.oneLine && hasLineBreak(value)) {
      this.at(node, `"${key}" contains a line break`, 'it goes into a mail header, where CR/LF could inject headers: keep it on one line');
      return undefined;
    }
    if (opts.nonEmpty && value.trim() === '') {
      this.at(node, `"${key}" is empty`);
      return undefined;
    }
    return value;
  }

  integer(node: YamlNode | null | undefined, key: string, min: number, max: number, hint: string): number | undefined {
    if (!node) return undefined;
    const v = isScalar(node) ? node.value : undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.at(node, `"${key}" must be a whole number from ${min} to ${max}, got ${describe(node)}`, hint);
      return undefined;
    }
    return v;
  }

  textList(node: YamlNode | null | undefined, key: string, allowSingle: boolean): string[] | undefined {
    if (!node) return undefined;
    if (allowSingle && isScalar(node) && typeof node.value === 'string') return [node.value.trim()];
    if (!isSeq(node)) {
      this.at(node, `"${key}" must be a list, got ${describe(node)}`, `e.g. ${key.split('.').pop()}: [newsletter]`);
      return undefined;
    }
    const out: string[] = [];
    for (const item of node.items as (YamlNode | null)[]) {
      const v = this.text(item, `${key} item`, { oneLine: true, nonEmpty: true });
      if (v !== undefined) out.push(v.trim());
    }
    return out;
  }
}

function readSchedule(node: YamlNode | null | undefined, r: Reader, at: At): CampaignSchedule | undefined {
  const schedule: CampaignSchedule = { at: undefined, timezone: 'subscriber', late: 'send', lateGraceSeconds: DEFAULT_GRACE_SECONDS };
  if (!node) return schedule;
  if (!isMap(node)) {
    at(node, `"schedule" must be a mapping, got ${describe(node)}`, 'e.g. schedule: { at: "2026-12-01 08:00", timezone: subscriber }');
    return undefined;
  }
  let ok = true;
  const s = fields(node, SCHEDULE_KEYS, 'schedule', at);
  const atNode = s.get('at')?.value;
  const when = r.text(atNode, 'schedule.at', { oneLine: true, nonEmpty: true });
  if (atNode && when === undefined) ok = false;
  if (when !== undefined) {
    const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{1,2}:\d{2})$/.exec(when.trim());
    const parsed = m ? DateTime.fromFormat(`${m[1]} ${m[2]}`, 'yyyy-MM-dd H:mm', { zone: 'UTC' }) : undefined;
    if (!m || !parsed?.isValid) {
      const hint = m
        ? 'that day or time does not exist in the calendar'
        : /[+-]\d{2}:?\d{2}$|Z$/.test(when.trim())
          ? 'give the local wall-clock time without an offset and choose the zone with schedule.timezone'
          : 'use "YYYY-MM-DD HH:mm", e.g. "2026-12-01 08:00"';
      at(atNode, `schedule.at "${when}" is not a date and time`, hint);
      ok = false;
    } else {
      schedule.at = { date: parsed.toFormat('yyyy-MM-dd'), time: parsed.toFormat('HH:mm') };
    }
  }
  const zoneNode = s.get('timezone')?.value;
  const zone = r.text(zoneNode, 'schedule.timezone', { oneLine: true, nonEmpty: true });
  if (zoneNode && zone === undefined) ok = false;
  if (zone !== undefined) {
    if (zone === 'subscriber' || isValidZone(zone)) schedule.timezone = zone;
    else {
      at(zoneNode, `schedule.timezone "${zone}" is not an IANA time zone`, '"subscriber" sends at each subscriber\'s own local time; or name one zone such as Europe/Berlin or America/New_York');
      ok = false;
    }
  }
  const lateNode = s.get('late')?.value;
  const late = r.text(lateNode, 'schedule.late', { oneLine: true });
  if (late !== undefined) {
    if (late === 'send' || late === 'skip') schedule.late = late;
    else {
      at(lateNode, `schedule.late must be "send" or "skip", got "${late}"`, 'send: a wave that is due but late goes out within late_grace; skip: it is skipped and counted');
      ok = false;
    }
  } else if (lateNode) ok = false;
  const graceNode = s.get('late_grace')?.value;
  if (graceNode) {
    const raw = isScalar(graceNode) && (typeof graceNode.value === 'string' || typeof graceNode.value === 'number') ? String(graceNode.value) : undefined;
    const seconds = raw === undefined ? undefined : parseDuration(raw);
    if (seconds === undefined || seconds > MAX_GRACE_SECONDS) {
      at(graceNode, `schedule.late_grace must be a duration up to 7d, got ${describe(graceNode)}`, 'e.g. 6h, 90m, 1h30m, 2d');
      ok = false;
    } else schedule.lateGraceSeconds = seconds;
  }
  return ok ? schedule : undefined;
}
