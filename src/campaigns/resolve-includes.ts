import path from 'node:path';
import { readConfined } from './confined-file.js';

/** One file of a template: the template itself or a partial it includes. */
export interface TemplateSource {
  /** Relative to the config root, with `/`. */
  file: string;
  text: string;
}

/** An mj-include that cannot be used, located in the file that has it. */
export interface IncludeProblem {
  /** The including file, relative to the root. */
  file: string;
  line: number;
  col: number;
  includePath: string;
  reason: string;
  hint?: string;
}

const INCLUDE = /<mj-include\b[^>]*?\bpath\s*=\s*(?:"([^"]*)"|'([^']*)')[^>]*>/g;

/** mjml-parser-xml URL-decodes include paths (repeatedly) before resolving them; so do we. */
function decodeLikeMjml(input: string): string {
  let result = input;
  for (let i = 0; i < 10; i++) {
    try {
      const decoded = decodeURIComponent(result);
      if (decoded === result) break;
      result = decoded;
    } catch {
      break;
    }
  }
  return result;
}

/**
 * The template and every partial it includes (plain, type="html" and type="css"), transitively,
 * each read through readConfined. mjml 5 resolves a path against the including file's folder,
 * exactly as written (no ".mjml" added), and turns a path it will not or cannot read into an
 * HTML comment without a word: a missing footer would be a missing unsubscribe link, and an
 * include of /etc/passwd used to pass validation. So each one is checked here, the same way
 * MJML resolves it, and every problem is returned. What is read is also what the campaign's
 * content hash covers.
 */
export function resolveIncludes(source: string, o: { templatePath: string; relTemplate: string; root: string }): { sources: TemplateSource[]; problems: IncludeProblem[] } {
  const problems: IncludeProblem[] = [];
  const sources: TemplateSource[] = [{ file: o.relTemplate, text: source }];
  const queue = [{ abs: o.templatePath, rel: o.relTemplate, text: source, css: false }];
  const seen = new Set([o.templatePath]);
  for (let item = queue.shift(); item; item = queue.shift()) {
    // A CSS file includes nothing; an HTML one could not either, but scanning it costs nothing.
    if (item.css) continue;
    for (const m of item.text.matchAll(INCLUDE)) {
      const includePath = m[1] ?? m[2] ?? '';
      const before = item.text.slice(0, m.index ?? 0);
      const at = { file: item.rel, line: before.split('\n').length, col: before.length - before.lastIndexOf('\n'), includePath };
      const decoded = decodeLikeMjml(includePath.trim());
      if (decoded === '' || decoded.includes('\0') || path.isAbsolute(decoded) || /^[a-zA-Z]:/.test(decoded) || /^(\\\\|\/\/)/.test(decoded)) {
        problems.push({ ...at, reason: 'is not a relative path', hint: 'MJML reads partials relative to the including file, e.g. path="./partials/footer.mjml"' });
        continue;
      }
      const abs = path.resolve(path.dirname(item.abs), decoded);
      const read = readConfined(abs, o.root);
      if (!read.ok) {
        const withExtension = read.reason === 'not found' && !/\.mjml$/i.test(abs) && readConfined(`${abs}.mjml`, o.root).ok;
        problems.push({
          ...at,
          reason: read.reason,
          hint: withExtension ? `MJML reads the exact name: write path="${includePath}.mjml"` : read.hint ?? 'include paths are relative to the including file\'s folder',
        });
        continue;
      }
      if (seen.has(read.real)) continue;
      seen.add(read.real);
      const rel = path.relative(o.root, abs).split(path.sep).join('/');
      const text = read.bytes.toString('utf8');
      sources.push({ file: rel, text });
      queue.push({ abs, rel, text, css: /\btype\s*=\s*["']css["']/.test(m[0]) });
    }
  }
  return { sources, problems };
}
