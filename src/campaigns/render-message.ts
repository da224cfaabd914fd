import type nunjucks from 'nunjucks';
import type { Config } from '../config/config.js';
import { inputError, MarketerError } from '../errors.js';
import { compileMjml } from './compile-template.js';
import { addUtm, decorateLinks, UTM_FILTER } from './decorate-links.js';
import { campaignError } from './load-campaign.js';
import type { Problem } from './problems.js';
import { SANDBOX_HINT } from './sandbox-check.js';
import { compileSandboxed, sandboxCause, sandboxedEnvironment, SandboxError, type SandboxedTemplate } from './sandbox.js';
import { analyseTemplate, MESSAGE_VARIABLES } from './template-variables.js';
import type { CompiledCampaign, LoadedCampaign, RenderRecipient, RenderedMessage } from './types.js';
import { unsubscribeUrl } from './unsubscribe-token.js';
import { SAMPLE_RECIPIENT } from './sample-recipient.js';
import { compileWithVariants } from '../experiments/compile-variants.js';
import { loadPackage } from '../load-package.js';

export { SAMPLE_RECIPIENT } from './sample-recipient.js';

/** SES swaps this for its own one-click link when ListManagementOptions are set. */
const SES_UNSUBSCRIBE_PLACEHOLDER = '{{amazonSESUnsubscribeUrl}}';

const HTML_VARIABLES = [...MESSAGE_VARIABLES, 'subject', 'preheader'];

interface Environments {
  html: nunjucks.Environment;
  text: nunjucks.Environment;
  strictHtml: nunjucks.Environment;
  strictText: nunjucks.Environment;
}

/** Decorated links kept per compiled campaign (a few hundred KB at most). */
const DECORATED_LINKS_KEPT = 4096;

/**
 * One set per campaign, because the UTM filter carries the campaign's parameters. Every one is
 * sandboxed (sandbox.ts): validate, preview, plan, send and dispatch all render through these.
 * autoescape is on for HTML only: headers and the text part are not HTML, and escaping there
 * would show "&amp;" to the reader. The strict pair is for validation, where an undefined name
 * throws instead of rendering blank; production renders leniently because a real subscriber's
 * null first_name is data, not a template bug (and default() needs it undefined, not null).
 */
function environments(utm: Record<string, string> | undefined, skipPrefixes: string[]): Environments {
  // Most such links are the same for every recipient (the campaign's data): each is decorated
  // once per campaign. A link per recipient is decorated every time, past the first few thousand.
  const decorated = new Map<string, string>();
  const decorate = (value: unknown) => {
    if (typeof value !== 'string' || !utm || !/^https?:\/\//i.test(value) || skipPrefixes.some((p) => value.startsWith(p))) return value;
    let out = decorated.get(value);
    if (out === undefined) {
      out = addUtm(value, utm);
      if (decorated.size < DECORATED_LINKS_KEPT) decorated.set(value, out);
    }
    return out;
  };
  const make = (autoescape: boolean, throwOnUndefined: boolean) =>
    sandboxedEnvironment({ autoescape, throwOnUndefined, filters: { [UTM_FILTER]: decorate } });
  return { html: make(true, false), text: make(false, false), strictHtml: make(true, true), strictText: make(false, true) };
}

/**
 * Compile a campaign once: MJML (strict) → link decoration → Nunjucks, plus the text part from
 * the same HTML. The returned `render` only fills in per-recipient values.
 */
export async function compileCampaign(campaign: LoadedCampaign, config: Config): Promise<CompiledCampaign> {
  return campaign.experiment ? compileWithVariants(campaign, config, compileOne) : compileOne(campaign, config);
}

async function compileOne(campaign: LoadedCampaign, config: Config): Promise<CompiledCampaign> {
  const file = campaign.relTemplate;
  const source = campaign.sources[0]?.text ?? '';
  // Every stage runs and reports, so one validate run shows every problem; a problem found twice
  // (in the template and again in the compiled HTML) is reported once.
  const problems: Problem[] = [];
  const seen = new Set<string>();
  const add = (p: Problem) => {
    const key = `${p.file}:${p.line}:${p.message}`;
    if (seen.has(key)) return;
    seen.add(key);
    problems.push(p);
  };

  // html-to-text (38 modules) is needed only below: it loads while MJML compiles in its worker,
  // rather than before the command starts.
  const htmlToText = loadPackage<typeof import('html-to-text')>('html-to-text');
  htmlToText.catch(() => {}); // awaited below, unless a problem ends the compile first

  const analysis = analyseTemplate(source, HTML_VARIABLES);
  for (const p of analysis.problems) add({ file, ...p });
  const syntaxBroken = analysis.problems.some((p) => p.message.startsWith('Nunjucks syntax error'));

  const mjml = await compileMjml(source, {
    templatePath: campaign.templatePath,
    relTemplate: file,
    root: config.root,
    sources: campaign.sources,
    preheader: campaign.preheader !== undefined,
    cacheRoot: config.root,
  });
  for (const p of mjml.problems) add(p);
  if (mjml.html === undefined) throw campaignError(problems);

  // Partials are only visible in the compiled HTML: check names there too, locating each by its
  // text in the template or partial it came from. (With a syntax error in the template itself
  // the compiled HTML has the same one: nothing more to learn there.)
  const locate = locator(mjml.sources, mjml.html);
  const compiled = syntaxBroken ? undefined : analyseTemplate(mjml.html, HTML_VARIABLES);
  for (const p of compiled?.problems ?? []) add({ ...locate(p.line, p.col), message: p.message, ...(p.hint ? { hint: p.hint } : {}) });
  // Rendering (below) needs templates without Nunjucks problems; MJML's own may remain.
  const nunjucksClean = !syntaxBroken && analysis.problems.length === 0 && (compiled?.problems.length ?? 0) === 0;
  if (compiled && !campaign.transactional && !compiled.used.has('unsubscribe_url')) {
    problems.push({
      file,
      line: 1,
      col: 1,
      message: 'this marketing template has no unsubscribe link',
      hint: 'add one, e.g. <a href="{{ unsubscribe_url }}">Unsubscribe</a> in the footer; one-to-one mail can say transactional: true in the campaign',
    });
  }
  if (!nunjucksClean) throw campaignError(problems);

  const mode = campaign.unsubscribe;
  const skipPrefixes = mode.kind === 'token' ? [mode.baseUrl] : [];
  const envs = environments(campaign.utm, skipPrefixes);
  const decorated = decorateLinks(mjml.html, campaign.utm, skipPrefixes);
  const { convert } = await htmlToText;
  const rawText = convert(decorated.html, {
    wordwrap: false,
    selectors: [
      // Wrapping or upper-casing would cut or rename {{ placeholders }}.
      ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({ selector, options: { uppercase: false } })),
      { selector: 'img', format: 'skip' },
      { selector: 'a', options: { hideLinkHrefIfSameAsText: true } },
    ],
  });
  // MJML's nested tables leave runs of blank lines; one blank line separates blocks well enough.
  const text = rawText.replace(/\n[ \t]*(\n[ \t]*){2,}/g, '\n\n').trim();

  const htmlTemplate = compileOrReport(decorated.html, envs.html, file, problems);
  const textTemplate = compileOrReport(text, envs.text, `${file} (text part)`, problems);
  const subjectTemplate = compileOrReport(campaign.subject, envs.text, `${campaign.relFile} (subject)`, problems);
  const preheaderTemplate = campaign.preheader === undefined ? undefined : compileOrReport(campaign.preheader, envs.text, `${campaign.relFile} (preheader)`, problems);
  if (htmlTemplate && textTemplate && subjectTemplate) sampleCheck(decorated.html, locate, campaign, envs, problems);
  if (!htmlTemplate || !textTemplate || !subjectTemplate || problems.length > 0) throw campaignError(problems);

  const campaignVar = Object.freeze({ id: campaign.id, name: campaign.name });
  const replyTo = campaign.replyToList;
  const oneClick = !campaign.transactional && mode.kind === 'token';
  const listManagement = mode.kind === 'list-management' ? { contactListName: mode.contactListName, topicName: mode.topicName } : undefined;

  // A name computed while rendering can still reach what the sandbox refuses: that is bad
  // input in the campaign (exit 2), not a crash, and it names where.
  const renderOrRefuse = (template: SandboxedTemplate, context: Record<string, unknown>, part: string): string => {
    try {
      return template.render(context);
    } catch (err) {
      const refused = sandboxCause(err);
      if (!refused) throw err;
      throw inputError('TEMPLATE_REFUSED', `The ${part} of campaign ${campaign.id} (${campaign.relFile}) was refused: ${refused.message}.`, {
        cause: err,
        hint: SANDBOX_HINT,
      });
    }
  };

  const render = (recipient: RenderRecipient): RenderedMessage => {
    const url =
      mode.kind === 'token'
        ? unsubscribeUrl(mode.baseUrl, mode.secret, { subscriberId: recipient.subscriberId, campaignId: campaign.id })
        : mode.kind === 'list-management'
          ? SES_UNSUBSCRIBE_PLACEHOLDER
          : undefined;
    const context: Record<string, unknown> = {
      email: recipient.email,
      first_name: recipient.first_name ?? undefined,
      last_name: recipient.last_name ?? undefined,
      timezone: recipient.timezone,
      attributes: recipient.attributes,
      data: campaign.data,
      campaign: campaignVar,
      unsubscribe_url: url,
    };
    const subject = renderOrRefuse(subjectTemplate, context, 'subject').trim();
    const preheader = preheaderTemplate && renderOrRefuse(preheaderTemplate, context, 'preheader').trim();
    if (/[\r\n]/.test(subject) || (preheader !== undefined && /[\r\n]/.test(preheader))) {
      throw new MarketerError('UNSAFE_SUBJECT', `The subject for subscriber ${recipient.subscriberId} of campaign ${campaign.id} would contain a line break.`, {
        hint: 'a line break in a header could inject other headers: clean this subscriber\'s name or attributes',
      });
    }
    context.subject = subject;
    context.preheader = preheader ?? '';
    return {
      subject,
      preheader,
      html: renderOrRefuse(htmlTemplate, context, 'template'),
      // Loops and ifs leave blank lines behind; the text part reads better without the runs.
      text: renderOrRefuse(textTemplate, context, 'text part').replace(/\n{3,}/g, '\n\n'),
      from: campaign.from,
      replyTo,
      headers: oneClick && url
        ? [
            { name: 'List-Unsubscribe', value: `<${url}>` },
            { name: 'List-Unsubscribe-Post', value: 'List-Unsubscribe=One-Click' },
          ]
        : [],
      unsubscribeUrl: mode.kind === 'token' ? url : undefined,
      listManagement,
    };
  };

  return { campaign, links: decorated.links, cached: mjml.cached, render };
}

function compileOrReport(src: string, env: nunjucks.Environment, name: string, problems: Problem[]): SandboxedTemplate | undefined {
  try {
    return compileSandboxed(src, env, name);
  } catch (err) {
    if (err instanceof SandboxError) {
      problems.push({ file: name, line: err.line ?? 1, col: err.col ?? 1, message: err.message });
      return undefined;
    }
    const { line, col, message } = parseNunjucksError(err);
    problems.push({ file: name, line, col, message: `Nunjucks: ${message}` });
    return undefined;
  }
}

function parseNunjucksError(err: unknown): { line: number; col: number; message: string } {
  const text = err instanceof Error ? err.message : String(err);
  const m = /\[Line (\d+)(?:, Column (\d+))?\]\s*([\s\S]*)$/.exec(text);
  return m ? { line: Number(m[1]), col: Number(m[2] ?? 1), message: (m[3] ?? '').trim() } : { line: 1, col: 1, message: text.replace(/^\([^)]*\)\s*/, '').trim() };
}

/**
 * Render the compiled template and the subject against the sample with undefined names throwing. Subscriber attributes are free-form,
 * so any attributes.<name> counts as present here; templates should give them a default().
 */
function sampleCheck(html: string, locate: Locate, campaign: LoadedCampaign, envs: Environments, problems: Problem[]): void {
  const sample = SAMPLE_RECIPIENT;
  // Every attribute exists on the sample, as an own property (the sandbox reads no others).
  const attributes = new Proxy({ ...sample.attributes } as Record<string, unknown>, {
    get: (target, key) => (typeof key === 'string' && !Object.hasOwn(target, key) ? `sample ${key}` : Reflect.get(target, key)),
    getOwnPropertyDescriptor: (target, key) => Reflect.getOwnPropertyDescriptor(target, key)
      ?? (typeof key === 'string' ? { value: `sample ${key}`, writable: true, enumerable: false, configurable: true } : undefined),
  });
  const context: Record<string, unknown> = {
    email: sample.email,
    first_name: sample.first_name,
    last_name: sample.last_name,
    timezone: sample.timezone,
    attributes,
    data: campaign.data,
    campaign: { id: campaign.id, name: campaign.name },
    unsubscribe_url: 'https://example.com/u/sample',
  };
  const check = (src: string, env: nunjucks.Environment, where: Locate) => {
    try {
      return compileSandboxed(src, env).render(context);
    } catch (err) {
      const refused = sandboxCause(err);
      if (refused) {
        const at = refused.line !== undefined ? { line: refused.line, col: refused.col ?? 1 } : parseNunjucksError(err);
        problems.push({ ...where(at.line, at.col), message: refused.message, hint: SANDBOX_HINT });
        return undefined;
      }
      const { line, col, message } = parseNunjucksError(err);
      const expression = expressionAt(src.split('\n')[line - 1] ?? '', col);
      const undefinedValue = /undefined value/.test(message);
      problems.push({
        ...where(line, col),
        message: undefinedValue && expression ? `"${expression}" is undefined for the sample subscriber` : `rendering the sample subscriber failed: ${message}`,
        ...(undefinedValue ? { hint: 'check the name (campaign variables are data.<name>); a value that may be missing needs a fallback, e.g. {{ data.note | default(\'\') }}' } : {}),
      });
      return undefined;
    }
  };
  const inCampaignFile: Locate = () => ({ file: campaign.relFile, line: 1, col: 1 });
  context.subject = check(campaign.subject, envs.strictText, inCampaignFile) ?? '';
  context.preheader = campaign.preheader === undefined ? '' : check(campaign.preheader, envs.strictText, inCampaignFile) ?? '';
  check(html, envs.strictHtml, locate);
}

/** The `{{ … }}` on `line` that holds (or is nearest before) 1-based column `col`. */
function expressionAt(line: string, col: number): string | undefined {
  let best: string | undefined;
  for (const m of line.matchAll(/\{\{[\s\S]*?\}\}/g)) {
    if ((m.index ?? 0) <= col) best = m[0];
  }
  return best ?? /\{\{[\s\S]*?\}\}/.exec(line)?.[0];
}

type Locate = (line: number, col: number) => { file: string; line: number; col: number };

/**
 * Map a line and column of the compiled HTML back to the template or partial it came from, by
 * finding the Nunjucks tag there in the sources. MJML rewrites everything around the tags, so the
 * tag text is the one thing both sides share.
 */
function locator(sources: { file: string; text: string }[], html: string): Locate {
  const htmlLines = html.split('\n');
  return (line, col) => {
    const text = htmlLines[line - 1] ?? '';
    const tags = [...text.matchAll(/\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}/g)];
    const tag = tags.filter((m) => (m.index ?? 0) < col).pop()?.[0] ?? tags[0]?.[0];
    if (tag) {
      for (const s of sources) {
        const at = s.text.indexOf(tag);
        if (at === -1) continue;
        const before = s.text.slice(0, at);
        return { file: s.file, line: before.split('\n').length, col: before.length - before.lastIndexOf('\n') };
      }
    }
    return { file: sources[0]?.file ?? '', line: 1, col: 1 };
  };
}
