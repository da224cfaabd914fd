/** Opening <a> and <area> tags: the links a reader can follow (not <link> stylesheets). */
const LINK_TAG = /<(?:a|area)\b[^>]*>/gi;
/** href="…" or href='…'. */
const HREF = /(\bhref\s*=\s*)(?:"([^"]*)"|'([^']*)')/i;
/** A link that is one Nunjucks expression, e.g. {{ item.url }}. */
const WHOLE_EXPRESSION = /^\{\{-?([\s\S]*?)-?\}\}$/;

/** Name of the filter that decorates links only known at render time. */
export const UTM_FILTER = 'marketer_utm';

export interface DecoratedLinks {
  html: string;
  /** Literal http(s) links after decoration, decoded from HTML, unique, in document order. */
  links: string[];
}

/**
 * Add UTM parameters to the links of compiled HTML, once per campaign. A literal http(s) link
 * gets them now, appended to the attribute text so that entities and placeholders inside stay
 * byte-for-byte. A link that is one expression (`{{ item.url }}`) gets the `marketer_utm`
 * filter, which adds them at render time if the value turns out to be http(s). Left alone:
 * mailto: and other schemes, the unsubscribe link (anything mentioning unsubscribe_url or under
 * `skipPrefixes`), and any utm_ parameter a link already sets.
 */
export function decorateLinks(html: string, utm: Record<string, string> | undefined, skipPrefixes: string[] = []): DecoratedLinks {
  const links: string[] = [];
  const out = html.replace(LINK_TAG, (tag) =>
    tag.replace(HREF, (whole, prefix: string, dq: string | undefined, sq: string | undefined) => {
      const raw = (dq ?? sq ?? '').trim();
      const quote = dq !== undefined ? '"' : "'";
      const expression = WHOLE_EXPRESSION.exec(raw);
      if (expression) {
        if (!utm || /unsubscribe_url|amazonSESUnsubscribeUrl/.test(raw)) return whole;
        return `${prefix}${quote}{{ (${expression[1]?.trim()}) | ${UTM_FILTER} }}${quote}`;
      }
      const url = decodeEntities(raw);
      if (!/^https?:\/\//i.test(url)) return whole;
      if (!utm || skipPrefixes.some((p) => url.startsWith(p))) {
        links.push(url);
        return whole;
      }
      const decorated = addUtm(raw, utm, '&amp;');
      links.push(decodeEntities(decorated));
      return decorated === raw ? whole : `${prefix}${quote}${decorated}${quote}`;
    }),
  );
  return { html: out, links: [...new Set(links)] };
}

/**
 * `url` plus the utm parameters it does not already set, before any #fragment. `separator` is
 * "&amp;" inside HTML attribute text, "&" for a plain URL.
 */
export function addUtm(url: string, params: Record<string, string>, separator = '&'): string {
  const hashAt = url.indexOf('#');
  const base = hashAt === -1 ? url : url.slice(0, hashAt);
  const fragment = hashAt === -1 ? '' : url.slice(hashAt);
  const queryAt = base.indexOf('?');
  const present = new Set(
    decodeEntities(queryAt === -1 ? '' : base.slice(queryAt + 1))
      .split('&')
      .map((kv) => kv.split('=')[0]?.toLowerCase() ?? '')
      .filter(Boolean),
  );
  const added = Object.entries(params)
    .filter(([k]) => !present.has(k.toLowerCase()))
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
  if (added.length === 0) return url;
  const sep = queryAt === -1 ? '?' : base.endsWith('?') || base.endsWith('&') || base.endsWith('&amp;') ? '' : separator;
  return `${base}${sep}${added.join(separator)}${fragment}`;
}

function decodeEntities(s: string): string {
  return s.replace(/&(amp|quot|#39|apos|lt|gt);/g, (m, e: string) => ({ amp: '&', quot: '"', '#39': "'", apos: "'", lt: '<', gt: '>' })[e] ?? m);
}

/** http(s) links a reader can follow in (rendered) HTML, decoded, unique, in document order. */
export function findLinks(html: string): string[] {
  const links: string[] = [];
  for (const tag of html.match(LINK_TAG) ?? []) {
    const m = HREF.exec(tag);
    const url = decodeEntities((m?.[2] ?? m?.[3] ?? '').trim());
    if (/^https?:\/\//i.test(url)) links.push(url);
  }
  return [...new Set(links)];
}
