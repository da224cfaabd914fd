import nunjucks from 'nunjucks';
import type { ParsedNode } from 'nunjucks/src/parser.js';
import { UTM_FILTER } from './decorate-links.js';

/**
 * The sandbox's rules checked on the parsed template, so that `validate` names the line and
 * column of every attempt, and a literal payload is refused before it is compiled. The runtime
 * gate in sandbox.ts stays the guarantee: it also stops names computed while rendering.
 */

export interface SandboxProblem {
  /** 1-based. */
  line: number;
  col: number;
  message: string;
  hint?: string;
}

/** Names no template may look up on any value (besides every name starting with `_`). */
export const REFUSED_MEMBERS: ReadonlySet<string> = new Set(['constructor', 'prototype', 'caller', 'callee', 'arguments']);

export function isRefusedMember(name: string): boolean {
  return name.startsWith('_') || REFUSED_MEMBERS.has(name);
}

/** Top-level names: `caller` is the body of a {% call %} block there, so it stays readable. */
export function isRefusedName(name: string): boolean {
  return name !== 'caller' && isRefusedMember(name);
}

/** Filters that read an attribute (a dotted path) of each item, and that argument's position. */
export const ATTRIBUTE_FILTERS: Readonly<Record<string, number>> = { groupby: 1, sort: 3, sum: 1, selectattr: 1, rejectattr: 1, join: 2 };

const builtins = new nunjucks.Environment([]) as unknown as { filters: object; tests: object };
/** Nunjucks' own filters, plus the one that adds UTM parameters to links known at render time. */
export const TEMPLATE_FILTERS: readonly string[] = [...Object.keys(builtins.filters), UTM_FILTER].sort();
export const TEMPLATE_TESTS: readonly string[] = Object.keys(builtins.tests).sort();
export const TEMPLATE_GLOBALS: readonly string[] = ['range', 'cycler', 'joiner'];
/** Methods of what cycler() returns; every other method call is refused. */
const METHODS = new Set(['next', 'reset']);
const FILTERS = new Set(TEMPLATE_FILTERS);
const TESTS = new Set(TEMPLATE_TESTS);

/** What every refusal suggests instead. */
export const SANDBOX_HINT = 'templates read the variables they are given and call filters, macros and range, cycler, joiner; see "What templates can use" in docs/campaign-file.md';
const HINT = SANDBOX_HINT;

function isNode(value: unknown): value is ParsedNode {
  return typeof value === 'object' && value !== null && typeof (value as { typename?: unknown }).typename === 'string';
}

function literalString(node: unknown): string | undefined {
  return isNode(node) && node.typename === 'Literal' && typeof node.value === 'string' ? node.value : undefined;
}

/** Every place the parsed template reaches past its data, in document order. */
export function sandboxProblems(root: ParsedNode): SandboxProblem[] {
  const problems: SandboxProblem[] = [];
  const seen = new Set<string>();
  const report = (node: ParsedNode, message: string, hint = HINT) => {
    const key = `${node.lineno}:${node.colno}:${message}`;
    if (seen.has(key)) return;
    seen.add(key);
    problems.push({ line: node.lineno + 1, col: node.colno + 1, message, hint });
  };
  const checkName = (node: unknown, refused: (name: string) => boolean) => {
    if (!isNode(node) || (node.typename !== 'Symbol' && node.typename !== 'Literal') || typeof node.value !== 'string') return;
    if (refused(node.value)) report(node, `template reaches "${node.value}"`);
  };
  const checkAttribute = (node: unknown, filter: string) => {
    const attr = literalString(node);
    if (attr === undefined) return;
    for (const part of attr.split('.')) if (isRefusedMember(part)) report(node as ParsedNode, `template reaches "${part}" through the ${filter} filter`);
  };

  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const n of node) visit(n);
      return;
    }
    if (!isNode(node)) return;
    switch (node.typename) {
      case 'Symbol':
        // Every name read or bound: {{ x }}, {% set x %}, {% for x in %}, {% macro x(y) %}.
        checkName(node, isRefusedName);
        return;
      case 'LookupVal':
        // a.b and a["b"] name the member; a[x] is left to the runtime gate. Target first, so
        // problems come in the order they are written.
        visit(node.target);
        checkName(node.val, isRefusedMember);
        visit(node.val);
        return;
      case 'Pair':
        // Dict literals and keyword arguments: {"__proto__": x} would set a prototype.
        checkName(node.key, isRefusedName);
        visit(node.value);
        return;
      case 'Include':
      case 'Import':
      case 'FromImport':
      case 'Extends':
        report(node, `{% ${node.typename === 'FromImport' ? 'from' : node.typename.toLowerCase()} %} is not available in templates`, 'templates cannot read other files; share markup with <mj-include path="…" /> instead');
        return;
      case 'CallExtension':
      case 'CallExtensionAsync':
        report(node, 'template extensions are not available');
        return;
      case 'Filter':
      case 'FilterAsync': {
        const name = isNode(node.name) ? String(node.name.value) : '';
        if (!FILTERS.has(name)) report(node.name as ParsedNode, `unknown filter "${name}"`, `available filters: ${TEMPLATE_FILTERS.join(', ')}`);
        const position = ATTRIBUTE_FILTERS[name];
        if (position !== undefined) {
          const args = (node.args as ParsedNode | undefined)?.children ?? [];
          checkAttribute(args[position], name);
          for (const kw of args.filter((a) => a.typename === 'KeywordArgs')) {
            for (const pair of kw.children ?? []) if (isNode(pair.key) && pair.key.value === 'attribute') checkAttribute(pair.value, name);
          }
        }
        visit(node.args);
        return;
      }
      case 'Is': {
        const right = node.right as ParsedNode | undefined;
        const test = isNode(right) && right.typename === 'FunCall' ? right.name : right;
        const name = isNode(test) ? String(test.value) : '';
        if (isNode(test) && !TESTS.has(name)) report(test, `unknown test "${name}"`, `available tests: ${TEMPLATE_TESTS.join(', ')}`);
        visit(node.left);
        if (isNode(right) && right.typename === 'FunCall') visit(right.args);
        return;
      }
      case 'FunCall': {
        // Arguments and callee first, so `range.constructor(…)()` reports the constructor first.
        for (const field of node.fields) visit(node[field]);
        const callee = node.name;
        if (isNode(callee) && callee.typename === 'LookupVal') {
          const method = literalString(callee.val);
          if (method === undefined || !METHODS.has(method)) {
            report(callee, `template calls ${method === undefined ? 'a computed method' : `the method "${method}"`}`, 'templates call filters ({{ name | upper }}), macros and range, cycler, joiner; not JavaScript methods');
          }
        } else if (isNode(callee) && callee.typename !== 'Symbol') {
          report(callee, 'template calls the result of an expression', 'templates call filters, macros and range, cycler, joiner by name');
        }
        return;
      }
      default:
        break;
    }
    for (const field of node.fields) visit(node[field]);
    // {% set x %}…{% endset %} keeps its body outside the node's declared fields.
    if (node.typename === 'Set') visit(node.body);
  };
  visit(root);
  return problems;
}
