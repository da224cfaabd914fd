import { runMjml } from './run-mjml.js';
import type { Problem } from './problems.js';
import { restylePreheader } from './preheader-style.js';

export interface MjmlResult {
  html: string | undefined;
  problems: Problem[];
  /** The template and every partial it includes, for locating what a later step finds. */
  sources: { file: string; text: string }[];
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
  let html: string;
  let issues: MjmlValidationIssue[];
  try {
    const result = await runMjml(prepared, {
      validationLevel: 'soft',
      filePath: options.templatePath,
      // mjml 5 ignores mj-include unless asked; partials may come from anywhere under the root.
      ignoreIncludes: false,
      includePath: options.root,
      keepComments: false,
      // No mjmlConfigPath: a .mjmlconfig names component packages that MJML require()s, which
      // would let a pull request run code. MJML reads none unless told to.
    });
    html = result.html;
    issues = validationIssues({ errors: result.errors }) ?? [];
  } catch (err) {
    problems.push({ file, line: 1, col: 1, message: `MJML could not compile the template: ${(err as Error).message}` });
    return { html: undefined, problems, sources };
  }
  {
    for (const issue of issues) {
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
  return { html: restylePreheader(html), problems, sources };
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
