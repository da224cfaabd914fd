import { compileCacheActivity, compileCacheKey, readCompileCache, writeCompileCache, type CachedMjml } from './compile-cache.js';
import { mjmlActivity, runMjml } from './run-mjml.js';
import type { Problem } from './problems.js';
import { restylePreheader } from './preheader-style.js';

export interface MjmlResult {
  html: string | undefined;
  problems: Problem[];
  /** The template and every partial it includes, for locating what a later step finds. */
  sources: { file: string; text: string }[];
  /** True when MJML's output came from the compile cache (compile-cache.ts), not from MJML. */
  cached: boolean;
}

interface MjmlValidationIssue {
  line: number;
  message: string;
  tagName: string;
}

function validationIssues(err: unknown): MjmlValidationIssue[] | undefined {
  const errors = (err as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return undefined;
  return errors.filter((e): e is MjmlValidationIssue => typeof e === 'object' && e !== null && typeof (e as MjmlValidationIssue).message === 'string');
}

/** What compiling templates took in this process (`validate --json` shows it). */
export interface CompileActivity {
  /** Times MJML was loaded (a worker started): once per process unless it sat idle. */
  mjmlLoads: number;
  /** Templates MJML compiled. */
  compiled: number;
  /** Templates whose MJML output came from the compile cache. */
  cached: number;
}

export function compileActivity(): CompileActivity {
  const mjml = mjmlActivity();
  return { mjmlLoads: mjml.loads, compiled: mjml.compiles, cached: compileCacheActivity().hits };
}

/** Nunjucks output and control tags: `{{ … }}` and `{% … %}`. */
const TAG = /\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g;

export interface CompileMjmlOptions {
  templatePath: string;
  /** For messages: relative to the config root. */
  relTemplate: string;
  /** Where mj-include may read partials from besides the template's own folder. */
  root: string;
  /** The template and its partials as loaded (resolve-includes.ts), every include checked. */
  sources: { file: string; text: string }[];
  /** Add `<mj-preview>{{ preheader }}</mj-preview>` when the template has none. */
  preheader: boolean;
  /** Keep and reuse MJML's output in <cacheRoot>/.marketer/cache (the repository); omit for none. */
  cacheRoot?: string;
  /** Default MJML_TIME_LIMIT_MS (run-mjml.ts). */
  timeLimitMs?: number;
}

/**
 * Compile MJML once and validate it strictly, keeping Nunjucks tags for the per-recipient render.
 * MJML runs in its soft mode so that the HTML is there even when validation fails: the later
 * checks (names in partials, the sample render) still run and report in the same pass. Any
 * validation error is a problem, so nothing invalid is ever sent.
 * Checks afterwards that every Nunjucks tag survived: MJML silently drops text it does not
 * expect (e.g. `{% if %}` between two sections), which would change what recipients get.
 */
export async function compileMjml(source: string, options: CompileMjmlOptions): Promise<MjmlResult> {
  const file = options.relTemplate;
  const { sources } = options;
  const problems: Problem[] = [];

  const prepared = injectHead(source, options.preheader);
  let output: { mjml: CachedMjml; cached: boolean };
  try {
    output = await mjmlOnce(prepared, options);
  } catch (err) {
    problems.push({ file, line: 1, col: 1, message: `MJML could not compile the template: ${(err as Error).message}` });
    return { html: undefined, problems, sources, cached: false };
  }
  const { html } = output.mjml;
  for (const issue of output.mjml.errors) {
    const placeholder = /\{\{|\{%/.test(issue.message);
    problems.push({
      file,
      line: issue.line || 1,
      col: 1,
      message: `MJML (strict): ${issue.tagName ? `<${issue.tagName}> ` : ''}${issue.message.trim()}`,
      ...(placeholder
        ? { hint: 'strict MJML checks attribute values such as colours and sizes before Nunjucks runs, so a {{ placeholder }} cannot stand in for one: write the literal value, or put the markup in <mj-raw>' }
        : {}),
    });
  }

  const survived = new Set(html.match(TAG) ?? []);
  const reported = new Set<string>();
  for (const { file: sourceFile, text } of sources) {
    const withoutComments = text.replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, ' '));
    for (const m of withoutComments.matchAll(TAG)) {
      if (survived.has(m[0]) || reported.has(m[0])) continue;
      reported.add(m[0]);
      const before = withoutComments.slice(0, m.index ?? 0);
      problems.push({
        file: sourceFile,
        line: before.split('\n').length,
        col: before.length - before.lastIndexOf('\n'),
        message: `MJML dropped "${m[0]}" while compiling`,
        hint: 'MJML keeps text only inside content elements (mj-text, mj-button, mj-raw …): wrap a {% if %} or {% for %} that spans sections in <mj-raw>, e.g. <mj-raw>{% if first_name %}</mj-raw>',
      });
    }
  }
  return { html: restylePreheader(html), problems, sources, cached: output.cached };
}

/**
 * MJML's output for `prepared`: from the compile cache when the same source, partials, options
 * and MJML version were compiled before, otherwise from MJML (and then kept). A template MJML
 * refuses outright (an exception, not validation errors) is not kept, so it is tried again.
 */
async function mjmlOnce(prepared: string, options: CompileMjmlOptions): Promise<{ mjml: CachedMjml; cached: boolean }> {
  const mjmlOptions = {
    validationLevel: 'soft',
    filePath: options.templatePath,
    // mjml 5 ignores mj-include unless asked; partials may come from anywhere under the root.
    ignoreIncludes: false,
    includePath: options.root,
    keepComments: false,
    // No mjmlConfigPath: a .mjmlconfig names component packages that MJML require()s, which
    // would let a pull request run code. MJML reads none unless told to.
  };
  const { cacheRoot } = options;
  const key = cacheRoot === undefined ? undefined : compileCacheKey({ source: prepared, sources: options.sources, options: mjmlOptions });
  const hit = cacheRoot !== undefined && key !== undefined ? readCompileCache(cacheRoot, key) : undefined;
  if (hit) return { mjml: hit, cached: true };
  // Campaigns compiled side by side may share a template: MJML compiles it once.
  const inFlight = key === undefined ? undefined : compiling.get(key);
  if (inFlight) return { mjml: await inFlight, cached: false };
  const pending = compileFresh(prepared, mjmlOptions, options, key);
  if (key !== undefined) {
    compiling.set(key, pending);
    pending.then(() => compiling.delete(key), () => compiling.delete(key));
  }
  return { mjml: await pending, cached: false };
}

const compiling = new Map<string, Promise<CachedMjml>>();

async function compileFresh(prepared: string, mjmlOptions: Record<string, unknown>, options: CompileMjmlOptions, key: string | undefined): Promise<CachedMjml> {
  const { cacheRoot } = options;
  const result = await runMjml(prepared, mjmlOptions, { timeLimitMs: options.timeLimitMs });
  const mjml: CachedMjml = {
    html: result.html,
    errors: (validationIssues({ errors: result.errors }) ?? []).map((e) => ({
      line: typeof e.line === 'number' ? e.line : 0,
      message: e.message,
      tagName: typeof e.tagName === 'string' ? e.tagName : '',
    })),
  };
  if (cacheRoot !== undefined && key !== undefined) writeCompileCache(cacheRoot, key, mjml);
  return mjml;
}

/**
 * Give the HTML a <title> (the subject) and a hidden preheader unless the template sets its own.
 * Inserted on the line of <mjml> or <mj-head>, so MJML's line numbers still match the file.
 */
function injectHead(source: string, preheader: boolean): string {
  let inject = '';
  if (!/<mj-title[\s>]/.test(source)) inject += '<mj-title>{{ subject }}</mj-title>';
  if (preheader && !/<mj-preview[\s>]/.test(source)) inject += '<mj-preview>{{ preheader }}</mj-preview>';
  if (!inject) return source;
  const head = /<mj-head(\s[^>]*)?>/.exec(source);
  if (head) return source.slice(0, head.index + head[0].length) + inject + source.slice(head.index + head[0].length);
  const root = /<mjml(\s[^>]*)?>/.exec(source);
  if (!root) return source;
  return `${source.slice(0, root.index + root[0].length)}<mj-head>${inject}</mj-head>${source.slice(root.index + root[0].length)}`;
}
