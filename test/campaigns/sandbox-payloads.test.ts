import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import nunjucks from 'nunjucks';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { compileSandboxed, sandboxedEnvironment, SandboxError, sandboxCause } from '../../src/campaigns/sandbox.js';
import { analyseTemplate, MESSAGE_VARIABLES } from '../../src/campaigns/template-variables.js';

/**
 * Published server-side template injection payloads for Nunjucks, and the Jinja2 ones Nunjucks'
 * syntax mirrors (PayloadsAllTheThings "Server Side Template Injection", HackTricks SSTI, the
 * 2016 "Sandbox break-out: Nunjucks template engine" write-up, CTF write-ups built on it).
 * CODE is JavaScript that, if it ever runs, writes a canary file, sets a global and returns a
 * canary environment variable. Each payload must be refused, and none of the three may happen.
 * `leaksInPlainNunjucks` marks the payloads that do run in an unsandboxed Nunjucks: the control
 * test shows they are live, so their refusal here means something.
 */

const CANARY = `canary-${process.pid}-${Date.now()}`;
const dir = mkdtempSync(path.join(tmpdir(), 'marketer-sandbox-'));
const CANARY_FILE = path.join(dir, 'pwned');
const CODE = `process.getBuiltinModule('fs').writeFileSync('${CANARY_FILE}', 'pwned'); globalThis.marketerPwned = true; return process.env.MARKETER_TEST_CANARY`;

interface Payload {
  name: string;
  template: string;
  /** What the refusal says. */
  refused: RegExp;
  leaksInPlainNunjucks?: boolean;
  /** The name is only known while rendering: the runtime gate stops it, the parser cannot. */
  computed?: boolean;
}

const PAYLOADS: Payload[] = [
  // Member access on the default globals: the classic Nunjucks break-out and its variants.
  { name: 'range.constructor (the published Nunjucks RCE)', template: `{{ range.constructor("${CODE}")() }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'cycler.constructor', template: `{{ cycler.constructor("${CODE}")() }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'joiner.constructor', template: `{{ joiner.constructor("${CODE}")() }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'bare constructor (Handlebars/Nunjucks list entry)', template: `{{ constructor.constructor("${CODE}")() }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'this.constructor.constructor', template: `{{ this.constructor.constructor("${CODE}")() }}`, refused: /reaches "constructor"/ },
  // Member access on the values a template is given.
  { name: 'a subscriber field', template: `{{ email.constructor.constructor("${CODE}")() }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'a string literal', template: `{{ "".constructor.constructor("${CODE}")() }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'a list literal', template: `{{ [].constructor.constructor("${CODE}")() }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'data through __proto__', template: `{{ data.__proto__.constructor.constructor("${CODE}")() }}`, refused: /reaches "__proto__"/, leaksInPlainNunjucks: true },
  { name: '__lookupGetter__ on data', template: '{{ data.__lookupGetter__("__proto__") }}', refused: /reaches "__lookupGetter__"/ },
  { name: '__defineGetter__ on attributes', template: `{{ attributes.__defineGetter__("plan", range.constructor("${CODE}")) }}{{ attributes.plan }}`, refused: /reaches "__defineGetter__"/, leaksInPlainNunjucks: true },
  { name: 'a JavaScript method reaching Function through call', template: `{{ email.toString.call.constructor("${CODE}")() }}`, refused: /reaches "constructor"|calls/, leaksInPlainNunjucks: true },
  // Computed names: the runtime gate must stop what the parser cannot see.
  { name: 'bracket literal', template: `{{ range["constructor"]("${CODE}")() }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'bracket with + concatenation', template: `{% set F = range["constr" + "uctor"] %}{% set run = F("${CODE}") %}{{ run() }}`, refused: /^template reaches "constructor"$/, leaksInPlainNunjucks: true, computed: true },
  { name: 'bracket with ~ concatenation', template: `{% set F = range["constr" ~ "uctor"] %}{% set run = F("${CODE}") %}{{ run() }}`, refused: /^template reaches "constructor"$/, leaksInPlainNunjucks: true, computed: true },
  { name: 'name from a set variable', template: `{% set k = "constructor" %}{% set F = range[k] %}{% set run = F("${CODE}") %}{{ run() }}`, refused: /^template reaches "constructor"$/, leaksInPlainNunjucks: true, computed: true },
  { name: 'name taken from campaign data', template: `{% set F = range[data.key] %}{% set run = F("${CODE}") %}{{ run() }}`, refused: /^template reaches "constructor"$/, leaksInPlainNunjucks: true, computed: true },
  { name: 'name as a one-item list (stringifies to the name)', template: `{% set F = range[["constructor"]] %}{% set run = F("${CODE}") %}{{ run() }}`, refused: /^template reaches "constructor"$/, leaksInPlainNunjucks: true, computed: true },
  { name: 'name built with the join filter', template: `{% set F = range[["con", "structor"] | join("")] %}{% set run = F("${CODE}") %}{{ run() }}`, refused: /^template reaches "constructor"$/, leaksInPlainNunjucks: true, computed: true },
  { name: 'name built with the replace filter', template: `{% set F = range["cXnstructor" | replace("X", "o")] %}{% set run = F("${CODE}") %}{{ run() }}`, refused: /^template reaches "constructor"$/, leaksInPlainNunjucks: true, computed: true },
  { name: 'Jinja \\x5f escapes for underscores', template: '{{ data["\\x5f\\x5fproto\\x5f\\x5f"] }}{{ data["__proto__"] }}', refused: /reaches "__proto__"/ },
  // Filters.
  { name: 'Jinja attr filter', template: '{{ range | attr("constructor") }}', refused: /unknown filter "attr"/ },
  { name: 'Twig/Jinja map and filter to a system call', template: '{{ ["id"] | map("system") | join }}{{ ["id"] | filter("system") }}', refused: /unknown filter "(map|filter)"/ },
  { name: 'join reading an attribute path', template: '{{ [range] | join("", "constructor.constructor") }}', refused: /reaches "constructor" through the join filter/, leaksInPlainNunjucks: false },
  { name: 'sort reading a keyword attribute', template: '{{ [range, cycler] | sort(attribute="constructor") | first }}', refused: /reaches "constructor" through the sort filter/ },
  { name: 'groupby with a computed attribute', template: '{% set a = "constructor" %}{{ [range] | groupby(a ~ ".name") | dump }}', refused: /reaches "constructor" through the groupby filter/, computed: true },
  { name: 'a filter block naming a constructor', template: '{% filter constructor %}x{% endfilter %}', refused: /unknown filter "constructor"/ },
  { name: 'a test named constructor', template: '{% if range is constructor %}x{% endif %}', refused: /unknown test "constructor"/ },
  // Globals, after the Jinja2 gadgets.
  { name: 'Jinja cycler.__init__.__globals__', template: '{{ cycler.__init__.__globals__.os.popen("id").read() }}', refused: /reaches "__init__"/ },
  { name: 'Jinja lipsum.__globals__', template: '{{ lipsum.__globals__["os"].popen("id").read() }}', refused: /reaches "__globals__"/ },
  { name: 'Jinja "".__class__.__mro__ subclasses', template: '{{ "".__class__.__mro__[1].__subclasses__() }}', refused: /reaches "__class__"/ },
  { name: 'Jinja config.items()', template: '{% for k, v in config.items() %}{{ k }}={{ v }}{% endfor %}', refused: /calls the method "items"/ },
  { name: 'Jinja self._TemplateReference__context', template: '{{ self._TemplateReference__context }}', refused: /reaches "_TemplateReference__context"/ },
  { name: 'a method of what cycler() returns', template: `{{ cycler("a").next.constructor("${CODE}")() }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'what joiner() returns', template: `{% set j = joiner() %}{{ j.constructor("${CODE}")() }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'range() as a memory bomb', template: '{{ range(1000000000) | length }}', refused: /range\(\) would make 1000000000 numbers/, computed: true },
  // Macros and call blocks.
  { name: 'a macro\'s constructor', template: `{% macro m() %}{% endmacro %}{{ m.constructor("${CODE}")() }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'caller() inside a call block', template: `{% macro m() %}{{ caller.constructor("${CODE}")() }}{% endmacro %}{% call m() %}x{% endcall %}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'a function passed into a macro', template: `{% macro m(f) %}{{ f.constructor("${CODE}")() }}{% endmacro %}{{ m(range) }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'a macro\'s sloppy-mode .caller', template: '{% macro m() %}{{ m.caller }}{% endmacro %}{{ m() }}', refused: /reaches "caller"/ },
  // Set blocks.
  { name: 'set to the Function constructor', template: `{% set f = range.constructor %}{{ f("${CODE}")() }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'a set block capturing a call', template: `{% set out %}{{ range.constructor("${CODE}")() }}{% endset %}{{ out }}`, refused: /reaches "constructor"/, leaksInPlainNunjucks: true },
  { name: 'set __proto__ of the context', template: '{% set __proto__ = range %}{{ call }}', refused: /reaches "__proto__"/ },
  { name: 'a dict literal with a __proto__ key', template: `{% set x = {"__proto__": range} %}{{ x.constructor("${CODE}")() }}`, refused: /reaches "(__proto__|constructor)"/, leaksInPlainNunjucks: true },
  { name: 'keyword arguments with a __proto__ key', template: '{% macro m() %}{% endmacro %}{{ m(__proto__=range) }}', refused: /reaches "__proto__"/ },
  // Includes: no template may read a file.
  { name: 'include /etc/passwd', template: '{% include "/etc/passwd" %}', refused: /{% include %} is not available/ },
  { name: 'import from outside', template: '{% import "../../marketer.yaml" as m %}', refused: /{% import %} is not available/ },
  { name: 'extends a file', template: '{% extends "../marketer.yaml" %}', refused: /{% extends %} is not available/ },
  { name: 'from-import', template: '{% from "/etc/hosts" import x %}', refused: /{% from %} is not available/ },
];

const context = () => ({
  email: 'ada@example.com',
  first_name: 'Ada',
  attributes: { plan: 'pro' },
  data: { key: 'constructor', title: 'Hello' },
  unsubscribe_url: 'https://example.com/u/x',
});

function nothingEscaped(output: string): void {
  expect(output).not.toContain(CANARY);
  expect(existsSync(CANARY_FILE)).toBe(false);
  expect((globalThis as { marketerPwned?: unknown }).marketerPwned).toBeUndefined();
}

/** Compile and render in the sandbox; returns the output or the refusal. */
function sandboxed(template: string): { output: string } | { refusal: string } {
  const env = sandboxedEnvironment({ autoescape: true, throwOnUndefined: false });
  try {
    return { output: compileSandboxed(template, env).render(context()) };
  } catch (err) {
    const cause = sandboxCause(err);
    if (!cause) throw err;
    return { refusal: cause.message };
  }
}

describe('the template sandbox against published SSTI payloads', () => {
  beforeAll(() => {
    process.env.MARKETER_TEST_CANARY = CANARY;
  });
  afterEach(() => {
    delete (globalThis as { marketerPwned?: unknown }).marketerPwned;
  });

  it('has a corpus of at least 20 distinct payloads', () => {
    expect(new Set(PAYLOADS.map((p) => p.template)).size).toBe(PAYLOADS.length);
    expect(PAYLOADS.length).toBeGreaterThanOrEqual(20);
  });

  it.each(PAYLOADS.filter((p) => p.leaksInPlainNunjucks))('control: plain Nunjucks runs $name', ({ template }) => {
    const plain = new nunjucks.Environment([], { autoescape: false });
    let output = '';
    try {
      output = plain.renderString(template, context());
    } catch {
      // Some payloads throw after their code has run; the side effects below are what count.
    }
    const leaked = output.includes(CANARY) || existsSync(CANARY_FILE) || (globalThis as { marketerPwned?: unknown }).marketerPwned === true;
    expect(leaked).toBe(true);
    rmSync(CANARY_FILE, { force: true });
  });

  it.each(PAYLOADS)('refuses $name', ({ template, refused }) => {
    const result = sandboxed(template);
    expect(result).toHaveProperty('refusal');
    expect((result as { refusal: string }).refusal).toMatch(refused);
    nothingEscaped(JSON.stringify(result));
  });

  it.each(PAYLOADS.filter((p) => !p.computed))(
    'validate reports $name with its line and column before anything runs',
    ({ template }) => {
      const analysis = analyseTemplate(`<p>\n  ${template}</p>`, [...MESSAGE_VARIABLES]);
      const problem = analysis.problems.find((p) => !/^unknown variable/.test(p.message));
      expect(problem, JSON.stringify(analysis.problems)).toBeDefined();
      expect(problem!.line).toBe(2);
      expect(problem!.col).toBeGreaterThanOrEqual(3);
    },
  );

  it('refuses a name computed at run time that the parser could not see', () => {
    const template = '{% set k = "constr" ~ "uctor" %}{% set f = range[k] %}{{ f }}';
    expect(analyseTemplate(template, [...MESSAGE_VARIABLES]).problems).toEqual([]);
    expect(sandboxed(template)).toEqual({ refusal: 'template reaches "constructor"' });
  });

  it('renders a payload held in campaign data as text, never as a template', () => {
    const env = sandboxedEnvironment({ autoescape: true, throwOnUndefined: false });
    const payload = `{{ range.constructor("${CODE}")() }}`;
    const output = compileSandboxed('<p>{{ data.note }}</p>', env).render({ ...context(), data: { note: payload } });
    const escaped = payload.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/'/g, '&#39;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    expect(output).toBe(`<p>${escaped}</p>`);
    nothingEscaped(output);
  });

  it('keeps what templates legitimately do', () => {
    const env = sandboxedEnvironment({ autoescape: true, throwOnUndefined: true });
    const render = (t: string, ctx: Record<string, unknown> = context()) => compileSandboxed(t, env).render(ctx);
    expect(render('{{ first_name | default("there") | upper }}')).toBe('ADA');
    expect(render('{% for i in range(1, 7, 2) %}{{ loop.index }}:{{ i }} {% endfor %}')).toBe('1:1 2:3 3:5 ');
    expect(render('{% set c = cycler("odd", "even") %}{{ c.next() }} {{ c.next() }} {{ c.next() }} {{ c.current }}')).toBe('odd even odd odd');
    expect(render('{% set j = joiner(" | ") %}{% for x in ["a", "b", "c"] %}{{ j() }}{{ x }}{% endfor %}')).toBe('a | b | c');
    expect(render('{% macro b(x) %}<b>{{ x }}</b>{% endmacro %}{{ b(email) }}')).toBe('<b>ada@example.com</b>');
    expect(render('{% macro box() %}[{{ caller() }}]{% endmacro %}{% call box() %}in{% endcall %}')).toBe('[in]');
    const items = { items: [{ name: 'b', n: 2 }, { name: 'a', n: 1 }] };
    expect(render('{{ data.items | sort(attribute="name") | join(", ", "name") }} {{ data.items | sum("n") }} {{ data.items.length }} {{ data.items[0].name }}', { data: items })).toBe('a, b 3 2 b');
    expect(render('{% for k, v in data %}{{ k }}={{ v }};{% endfor %}', { data: { a: 1, b: 'x' } })).toBe('a=1;b=x;');
    expect(render('{{ "yes" if data.flag else "no" }} {{ email | length }} {{ email is string }}', { ...context(), data: { flag: true } })).toBe('yes 15 true');
  });

  it('reads own properties only: prototype methods are not there', () => {
    expect(sandboxed('[{{ toString }}][{{ hasOwnProperty }}][{{ email.toUpperCase }}][{{ data.items }}]')).toEqual({ output: '[][][][]' });
    expect(sandboxed('{{ email.toUpperCase() }}')).toEqual({ refusal: 'template calls the method "toUpperCase"' });
    expect(() => compileSandboxed('{% if x %}', sandboxedEnvironment({ autoescape: true, throwOnUndefined: false }))).toThrow(/expected elif, else, or endif/);
    expect(new SandboxError('x')).toBeInstanceOf(Error);
  });
});
