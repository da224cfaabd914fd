import nunjucks from 'nunjucks';
import compiler from 'nunjucks/src/compiler.js';
import { parse, type ParsedNode } from 'nunjucks/src/parser.js';
import transformer from 'nunjucks/src/transformer.js';
import { ATTRIBUTE_FILTERS, isRefusedMember, isRefusedName, sandboxProblems } from './sandbox-check.js';

/**
 * A sandboxed Nunjucks, after Jinja2's SandboxedEnvironment. Templates and campaign files arrive
 * by pull request, so a template is data: it may read the values it is given and call the
 * filters and helpers below, nothing else. Plain Nunjucks compiles `{{ range.constructor("…")() }}`
 * to JavaScript that reaches `Function` and from there `process`.
 *
 * Every spelling of member access (`a.b`, `a["b"]`, `a[name]`) compiles to one runtime call,
 * `runtime.memberLookup`, every call to `runtime.callWrap`, every name to
 * `runtime.contextOrFrameLookup`. Compiled templates receive the runtime as a parameter of their
 * root function, and blocks and macros get it from there, so handing the root function our
 * runtime puts one gate on all of them, for this template only (nunjucks' shared runtime is not
 * touched). The gate:
 *   - reads own properties only, so no prototype (and no `Function`) is ever reachable;
 *   - refuses the names in REFUSED_MEMBERS and any name starting with `_`, on any value;
 *   - calls only functions it handed out: range/cycler/joiner and their methods, macros, callers.
 * Filters and tests come from null-prototype tables (so `constructor` is no filter), the
 * attribute-taking filters refuse the same names, and globals are replaced by bounded versions.
 * Before compiling, the parsed template is checked for the same names (sandbox-check.ts), so a
 * literal payload is refused with its line and column before anything runs.
 */

/** Thrown when a template reaches past the data it was given. */
export class SandboxError extends Error {
  constructor(message: string, readonly line?: number, readonly col?: number) {
    super(message);
    this.name = 'SandboxError';
  }
}

/** What range() may build: a bigger list is a template bug or an attack on memory. */
export const MAX_RANGE = 10_000;

interface NunjucksRuntime {
  memberLookup(obj: unknown, key: unknown): unknown;
  callWrap(fn: unknown, name: string, context: unknown, args: unknown[]): unknown;
  contextOrFrameLookup(context: NunjucksContext, frame: NunjucksFrame, name: string): unknown;
  makeMacro(...args: unknown[]): (...a: unknown[]) => unknown;
  [name: string]: unknown;
}
interface NunjucksFrame {
  variables: Record<string, unknown>;
  parent: NunjucksFrame | null | undefined;
}
interface NunjucksContext {
  ctx: Record<string, unknown>;
  env: { globals: Record<string, unknown> };
}
type RootRender = (env: unknown, context: unknown, frame: unknown, runtime: unknown, cb: unknown) => void;

const baseRuntime = (nunjucks as unknown as { runtime: NunjucksRuntime }).runtime;
const hasOwn = (obj: object, key: PropertyKey) => Object.prototype.hasOwnProperty.call(obj, key);

/** Functions a template may call: handed out by our helpers or made by its own macros. */
const callable = new WeakSet<object>();
function allow<T extends (...args: never[]) => unknown>(fn: T): T {
  callable.add(fn);
  return fn;
}

function memberLookup(obj: unknown, key: unknown): unknown {
  if (obj === undefined || obj === null) return undefined;
  // The key is used in the form it was checked in: `a[["constructor"]]` is the string.
  const prop = typeof key === 'number' ? key : String(key);
  if (typeof prop === 'string' && isRefusedMember(prop)) throw new SandboxError(`template reaches "${prop}"`);
  const target = Object(obj) as Record<PropertyKey, unknown>;
  if (!hasOwn(target, prop)) return undefined;
  const value = target[prop];
  if (typeof value === 'function' && !callable.has(value)) throw new SandboxError(`template reaches "${String(prop)}", a function it may not use`);
  return value;
}

function contextOrFrameLookup(context: NunjucksContext, frame: NunjucksFrame, name: string): unknown {
  if (isRefusedName(name)) throw new SandboxError(`template reaches "${name}"`);
  let value: unknown;
  for (let f: NunjucksFrame | null | undefined = frame; f; f = f.parent) {
    if (hasOwn(f.variables, name) && f.variables[name] !== undefined) {
      value = f.variables[name];
      break;
    }
  }
  if (value === undefined) {
    if (hasOwn(context.ctx, name)) value = context.ctx[name];
    else if (hasOwn(context.env.globals, name)) value = context.env.globals[name];
  }
  if (typeof value === 'function' && !callable.has(value)) throw new SandboxError(`template reaches "${name}", a function it may not use`);
  return value;
}

function callWrap(fn: unknown, name: string, context: unknown, args: unknown[]): unknown {
  if (!fn) throw new Error(`Unable to call \`${name}\`, which is undefined or falsey`);
  if (typeof fn !== 'function') throw new Error(`Unable to call \`${name}\`, which is not a function`);
  if (!callable.has(fn)) throw new SandboxError(`template calls "${name}", which is not a macro or one of range, cycler, joiner`);
  return (fn as (...a: unknown[]) => unknown).apply(context, args);
}

const SANDBOX_RUNTIME: NunjucksRuntime = Object.freeze({
  ...baseRuntime,
  memberLookup,
  contextOrFrameLookup,
  callWrap,
  makeMacro: (...args: unknown[]) => allow(baseRuntime.makeMacro(...args)),
});

function finiteInteger(value: unknown, what: string): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new SandboxError(`range(): ${what} must be a number`);
  return Math.trunc(n);
}

/** range(stop) / range(start, stop[, step]) as in Nunjucks, at most MAX_RANGE numbers. */
const range = allow((start: unknown, stop?: unknown, step?: unknown): number[] => {
  let from = 0;
  let to: number;
  let by = 1;
  if (stop === undefined) to = finiteInteger(start, 'stop');
  else {
    from = finiteInteger(start, 'start');
    to = finiteInteger(stop, 'stop');
    if (step !== undefined && step !== null && step !== 0) by = finiteInteger(step, 'step') || 1;
  }
  const count = Math.max(0, Math.ceil((to - from) / by));
  if (count > MAX_RANGE) throw new SandboxError(`range() would make ${count} numbers; at most ${MAX_RANGE}`);
  return Array.from({ length: count }, (_, i) => from + i * by);
});

/** cycler(a, b, …): .next() returns the items in turn, .reset() starts over, .current is the last. */
const cycler = allow((...items: unknown[]) => {
  let index = -1;
  const state = {
    current: null as unknown,
    next: allow(() => {
      index = items.length === 0 ? -1 : (index + 1) % items.length;
      state.current = index === -1 ? undefined : items[index];
      return state.current;
    }),
    reset: allow(() => {
      index = -1;
      state.current = null;
      return '';
    }),
  };
  return state;
});

/** joiner(sep): a function returning '' the first time and sep after. */
const joiner = allow((sep?: unknown) => {
  const separator = sep === undefined || sep === null ? ',' : sep;
  let first = true;
  return allow(() => {
    const out = first ? '' : separator;
    first = false;
    return out;
  });
});

function checkAttribute(filter: string, attr: unknown): void {
  if (typeof attr !== 'string') return;
  for (const part of attr.split('.')) if (isRefusedMember(part)) throw new SandboxError(`template reaches "${part}" through the ${filter} filter`);
}

export interface SandboxOptions {
  autoescape: boolean;
  /** Undefined names throw (validation) instead of rendering blank (sending). */
  throwOnUndefined: boolean;
  /** Our own filters, besides Nunjucks' built-in ones. */
  filters?: Record<string, (...args: never[]) => unknown>;
}

/**
 * An environment with no loader (so no {% include %}, {% import %} or {% extends %} can read a
 * file), bounded globals and null-prototype filter and test tables.
 */
export function sandboxedEnvironment(o: SandboxOptions): nunjucks.Environment {
  // An empty loader list: with null Nunjucks would read templates from ./views.
  // dev: without it Nunjucks replaces a render error by a bare copy of its message, and the
  // SandboxError behind it (what sandboxCause looks for) is lost.
  const env = new nunjucks.Environment([], { autoescape: o.autoescape, throwOnUndefined: o.throwOnUndefined, dev: true });
  for (const [name, fn] of Object.entries(o.filters ?? {})) env.addFilter(name, fn as (...args: unknown[]) => unknown);
  const raw = env as unknown as { filters: Record<string, unknown>; tests: Record<string, unknown>; globals: Record<string, unknown> };
  const filters: Record<string, unknown> = Object.create(null);
  for (const [name, fn] of Object.entries(raw.filters)) {
    const position = ATTRIBUTE_FILTERS[name];
    filters[name] = position === undefined
      ? fn
      : function attributeFilter(this: unknown, ...args: unknown[]) {
        checkAttribute(name, args[position]);
        // sort is a macro and takes attribute= as a keyword argument (the last argument).
        const last = args[args.length - 1] as { __keywords?: unknown; attribute?: unknown } | undefined;
        if (last && typeof last === 'object' && last.__keywords === true) checkAttribute(name, last.attribute);
        return (fn as (...a: unknown[]) => unknown).apply(this, args);
      };
  }
  raw.filters = filters;
  raw.tests = Object.assign(Object.create(null), raw.tests);
  raw.globals = Object.assign(Object.create(null), { range, cycler, joiner });
  return env;
}

export interface SandboxedTemplate {
  render(context: Record<string, unknown>): string;
}

/**
 * Nunjucks' compiler, noting the (1-based) line and column before each member lookup and
 * filter, as it already does before calls: a refusal while rendering then says where it was.
 */
class PositionedCompiler extends compiler.Compiler {
  override compileLookupVal(node: ParsedNode, frame: unknown): void {
    this._emit(`(lineno = ${node.lineno + 1}, colno = ${node.colno + 1}, `);
    super.compileLookupVal(node, frame);
    this._emit(')');
  }

  override compileFilter(node: ParsedNode, frame: unknown): void {
    this._emit(`(lineno = ${node.lineno + 1}, colno = ${node.colno + 1}, `);
    super.compileFilter(node, frame);
    this._emit(')');
  }
}

type EnvInternals = nunjucks.Environment & { extensionsList: unknown[]; asyncFilters: string[]; opts: { throwOnUndefined?: boolean } };
const prettify = (nunjucks as unknown as { lib: { _prettifyError(path: string | undefined, dev: boolean, err: unknown): Error } }).lib._prettifyError;

/**
 * Parse once, refuse what the sandbox refuses (the first problem, with its position), compile,
 * and bind the compiled code to the sandbox runtime. Throws SandboxError, or Nunjucks' syntax
 * error in its usual "[Line n, Column m]" form.
 */
export function compileSandboxed(source: string, env: nunjucks.Environment, name?: string): SandboxedTemplate {
  const e = env as EnvInternals;
  let props: { root: RootRender };
  try {
    const ast = parse(source, e.extensionsList, e.opts);
    const problem = sandboxProblems(ast)[0];
    if (problem) throw new SandboxError(problem.message, problem.line, problem.col);
    const c = new PositionedCompiler(name, e.opts.throwOnUndefined === true);
    c.compile(transformer.transform(ast, e.asyncFilters, name));
    // eslint-disable-next-line no-new-func -- how Nunjucks itself loads compiled templates
    props = new Function(c.getCode())() as { root: RootRender };
  } catch (err) {
    if (err instanceof SandboxError) throw err;
    throw prettify(name, true, err);
  }
  const template = new nunjucks.Template({ type: 'code', obj: props } as unknown as string, env, name, true) as unknown as nunjucks.Template & { rootRenderFunc: RootRender };
  const root = template.rootRenderFunc;
  template.rootRenderFunc = (en, context, frame, _runtime, cb) => root(en, context, frame, SANDBOX_RUNTIME, cb);
  return template;
}

/** The SandboxError behind a Nunjucks render error, if that is what it was. */
export function sandboxCause(err: unknown): SandboxError | undefined {
  // Nunjucks wraps it (with line and column) in a TemplateError that is no `instanceof Error`.
  for (let e: unknown = err, depth = 0; typeof e === 'object' && e !== null && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof SandboxError) return e;
  }
  return undefined;
}
