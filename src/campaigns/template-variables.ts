import { parse, type ParsedNode } from 'nunjucks/src/parser.js';
import { closest } from './problems.js';
import { isRefusedName, sandboxProblems } from './sandbox-check.js';

/** Names every message template can use, besides the campaign's `data`. */
export const SUBSCRIBER_VARIABLES = ['email', 'first_name', 'last_name', 'timezone', 'attributes'] as const;
export const MESSAGE_VARIABLES = [...SUBSCRIBER_VARIABLES, 'data', 'campaign', 'unsubscribe_url'] as const;
/** Nunjucks' own globals and the loop variable. */
const BUILTINS = ['range', 'cycler', 'joiner', 'loop', 'caller', 'true', 'false', 'none', 'True', 'False', 'None'];

export interface VariableProblem {
  /** 1-based, relative to the template text. */
  line: number;
  col: number;
  message: string;
  hint?: string;
}

export interface TemplateAnalysis {
  problems: VariableProblem[];
  /** Top-level names the template reads. */
  used: Set<string>;
}

/**
 * Parse a Nunjucks template and check every variable it reads against `known`. Static, so it
 * covers branches a sample render would not take. Names the template binds itself (for, set,
 * macro) count as known everywhere: a looser rule than Nunjucks' scoping, but never a false alarm.
 */
export function analyseTemplate(source: string, known: Iterable<string>): TemplateAnalysis {
  let root: ParsedNode;
  try {
    root = parse(source);
  } catch (err) {
    const e = err as { message?: string; lineno?: number; colno?: number };
    const message = String(e.message ?? err).replace(/^\(unknown path\)\s*(\[Line \d+(, Column \d+)?\])?\s*/, '').trim();
    return {
      problems: [{ line: e.lineno ?? 1, col: e.colno ?? 1, message: `Nunjucks syntax error: ${message}`, hint: 'check the {{ }} and {% %} tags around here' }],
      used: new Set(),
    };
  }
  // What the sandbox refuses, then names it does not know: both with their line and column.
  const problems: VariableProblem[] = sandboxProblems(root);
  const reads: ParsedNode[] = [];
  const bound = new Set<string>();
  walk(root, reads, bound);
  const allowed = new Set([...known, ...BUILTINS, ...bound]);
  const used = new Set<string>();
  const reported = new Set<string>();
  for (const symbol of reads) {
    const name = String(symbol.value);
    used.add(name);
    if (allowed.has(name) || isRefusedName(name) || reported.has(`${name}:${symbol.lineno}`)) continue;
    reported.add(`${name}:${symbol.lineno}`);
    const guess = closest(name, known);
    problems.push({
      line: symbol.lineno + 1,
      col: symbol.colno + 1,
      message: `unknown variable "${name}"`,
      hint: guess
        ? `did you mean "${guess}"?`
        : `available: ${[...known].join(', ')}; campaign variables are data.<name>, subscriber attributes are attributes.<name>`,
    });
  }
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  return { problems, used };
}

/**
 * The paths under `data` a template reads: `data.a.b` → ["a", "b"]; a computed member ends the
 * path (`data[x]` → []), so everything below it counts as read. A template that does not parse
 * reads nothing here (its syntax error is reported elsewhere).
 */
export function dataPathsRead(source: string): string[][] {
  let root: ParsedNode;
  try {
    root = parse(source);
  } catch {
    return [];
  }
  const paths: string[][] = [];
  const chain = (node: ParsedNode): string[] | undefined => {
    if (node.typename === 'Symbol') return node.value === 'data' ? [] : undefined;
    if (node.typename !== 'LookupVal' || !isNode(node.target)) return undefined;
    const base = chain(node.target);
    if (!base) return undefined;
    const val = node.val;
    return isNode(val) && val.typename === 'Literal' && (typeof val.value === 'string' || typeof val.value === 'number') ? [...base, String(val.value)] : base;
  };
  const visit = (node: unknown, parentIsLookup: boolean): void => {
    if (Array.isArray(node)) {
      for (const n of node) visit(n, false);
      return;
    }
    if (!isNode(node)) return;
    if (!parentIsLookup && (node.typename === 'Symbol' || node.typename === 'LookupVal')) {
      const p = chain(node);
      if (p) paths.push(p);
    }
    for (const field of node.fields) visit(node[field], node.typename === 'LookupVal' && field === 'target');
    if (node.typename === 'Set') visit(node.body, false);
  };
  visit(root, false);
  return paths;
}

function isNode(value: unknown): value is ParsedNode {
  return typeof value === 'object' && value !== null && typeof (value as { typename?: unknown }).typename === 'string';
}

function bindNames(node: unknown, bound: Set<string>): void {
  if (Array.isArray(node)) {
    for (const n of node) bindNames(n, bound);
    return;
  }
  if (!isNode(node)) return;
  if (node.typename === 'Symbol') bound.add(String(node.value));
  for (const child of node.children ?? []) bindNames(child, bound);
  if (node.typename === 'Pair') {
    bindNames(node.key, bound);
    bindNames(node.value, bound);
  }
}

/** Fields that hold names being bound or named (filters, tests, keys), not variables being read. */
const NOT_READS: Record<string, string[]> = {
  For: ['name'],
  AsyncEach: ['name'],
  AsyncAll: ['name'],
  Set: ['targets'],
  Macro: ['name', 'args'],
  Caller: ['name', 'args'],
  Import: ['target'],
  FromImport: ['names'],
  Filter: ['name'],
  FilterAsync: ['name'],
  Is: ['right'],
  Pair: ['key'],
};

function walk(node: ParsedNode, reads: ParsedNode[], bound: Set<string>): void {
  if (node.typename === 'Symbol') {
    reads.push(node);
    return;
  }
  const skip = NOT_READS[node.typename] ?? [];
  for (const field of skip) if (node.typename !== 'Filter' && node.typename !== 'FilterAsync' && node.typename !== 'Is' && node.typename !== 'Pair') bindNames(node[field], bound);
  for (const field of node.fields) if (!skip.includes(field)) visit(node[field], reads, bound);
  // {% set x %}…{% endset %} keeps its body outside the node's declared fields.
  if (node.typename === 'Set') visit(node.body, reads, bound);
}

function visit(value: unknown, reads: ParsedNode[], bound: Set<string>): void {
  if (Array.isArray(value)) for (const v of value) visit(v, reads, bound);
  else if (isNode(value)) walk(value, reads, bound);
}
