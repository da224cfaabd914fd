/**
 * Numbers, plurals, sizes, rates and durations as the terminal shows them: one place, so every
 * command says "1 row", "2 rows" and "12,345" the same way.
 */

// Made on first use: the first Intl formatter loads ICU data, 40+ ms that --help never needs.
let integer: Intl.NumberFormat | undefined;

/** 12345 → "12,345"; fractions keep up to two digits (1234.5 → "1,234.5"). */
export function formatNumber(n: number): string {
  if (!Number.isInteger(n)) return n.toLocaleString('en-US', { maximumFractionDigits: 2 });
  integer ??= new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  return integer.format(n);
}

/**
 * "1 row", "2 rows", "1,000 deliveries": the count with thousands separators and the noun in
 * the right number. `plural` defaults to the English rules marketer's nouns need (-s, -y → -ies,
 * -s/-x/-ch/-sh → -es).
 */
export function plural(count: number, singular: string, pluralForm?: string): string {
  return `${formatNumber(count)} ${count === 1 ? singular : (pluralForm ?? pluralOf(singular))}`;
}

/** The word that agrees with `count`: byCount(1, 'was', 'were') → "was". */
export function byCount(count: number, one: string, many: string): string {
  return count === 1 ? one : many;
}

function pluralOf(word: string): string {
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}ies`;
  if (/(s|x|ch|sh)$/.test(word)) return `${word}es`;
  return `${word}s`;
}

/** 0.1234 → "12.3%"; null (no denominator) → "–". */
export function formatPercent(fraction: number | null, digits = 1): string {
  return fraction === null || !Number.isFinite(fraction) ? '–' : `${(fraction * 100).toFixed(digits)}%`;
}

/** 1536 → "1.5 KB" (powers of 1,024, as file managers show them). */
export function formatBytes(bytes: number): string {
  const units = ['bytes', 'KB', 'MB', 'GB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return u === 0 ? `${formatNumber(v)} bytes` : `${v.toFixed(1)} ${units[u]}`;
}

/** 125.4 per second → "125/s"; small rates keep one decimal ("0.5/s"). */
export function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '0/s';
  return perSecond < 10 ? `${perSecond.toFixed(1)}/s` : `${formatNumber(Math.round(perSecond))}/s`;
}

/** Seconds as "45s", "3m 05s", "2h 07m", "3d 04h": short enough for a progress line. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '–';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h ${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d ${pad(Math.floor((s % 86_400) / 3600))}h`;
}

/** 1234 → "1,234"; from 100,000 on, compact ("250k", "1.2M") so counts fit narrow columns. */
export function formatCount(n: number): string {
  if (Math.abs(n) < 100_000) return formatNumber(n);
  if (Math.abs(n) < 1_000_000) return `${Math.round(n / 1000)}k`;
  return `${(n / 1_000_000).toFixed(n < 10_000_000 ? 1 : 0)}M`;
}

/** Cut `text` to `width` characters with an ellipsis. */
export function truncate(text: string, width: number): string {
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/**
 * Wrap prose at word boundaries to `width` columns (default: the terminal's, at most 100, 80
 * without a terminal), every line after the first indented by `indent` spaces.
 */
export function wrapText(text: string, width = terminalWidth(), indent = 0): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const room = width - (lines.length === 0 ? 0 : indent);
    if (line && visibleLength(line) + 1 + visibleLength(word) > room) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.map((l, i) => (i === 0 ? l : ' '.repeat(indent) + l)).join('\n');
}

/**
 * Columns to wrap sentences at: COLUMNS, else the terminal's width (at most 100). Undefined when
 * the stream is a pipe or a file and COLUMNS is unset: there a sentence stays on one line, for
 * grep and for log viewers that wrap by themselves. (Tables fit terminalWidth() either way.)
 */
export function proseWidth(stream: NodeJS.WriteStream = process.stdout): number | undefined {
  const env = Number(process.env.COLUMNS);
  if (Number.isInteger(env) && env > 0) return Math.max(40, Math.min(env, 100));
  return stream.isTTY && stream.columns ? Math.max(40, Math.min(stream.columns, 100)) : undefined;
}

/** A sentence wrapped to proseWidth(), later lines indented by `indent`; unchanged on a pipe. */
export function wrapProse(text: string, indent = 0, stream: NodeJS.WriteStream = process.stdout): string {
  const width = proseWidth(stream);
  if (width === undefined) return text;
  return text.split('\n').map((line) => {
    if (visibleLength(line) <= width) return line;
    const lead = /^ */.exec(line)![0];
    return lead + wrapText(line, width - lead.length, Math.max(0, indent - lead.length)).split('\n').join(`\n${lead}`);
  }).join('\n');
}

/**
 * As many items as fit in `width` columns, then how many more: "Europe/Berlin, Asia/Tokyo +3".
 * A first item too long on its own is cut with an ellipsis.
 */
export function fitList(items: string[], width: number): string {
  for (let n = items.length; n > 0; n--) {
    const text = items.slice(0, n).join(', ') + (n < items.length ? ` +${items.length - n}` : '');
    if (text.length <= width) return text;
  }
  if (items.length === 0) return '';
  const more = items.length > 1 ? ` +${items.length - 1}` : '';
  return truncate(items[0]!, Math.max(1, width - more.length)) + more;
}

/** Characters a terminal shows (colour codes take no room). */
export function visibleLength(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\u001b\[[0-9;]*m/g, '').length;
}

/**
 * Columns to lay text out in: COLUMNS, the terminal's width, or 80; never more than 100.
 * `columns` reads the terminal's width (by default process.stdout's), only when COLUMNS is unset.
 */
export function terminalWidth(columns: () => number | undefined = () => process.stdout.columns): number {
  const env = Number(process.env.COLUMNS);
  const cols = Number.isInteger(env) && env > 0 ? env : columns() || 80;
  return Math.max(40, Math.min(cols, 100));
}

const LEVELS = '▁▂▃▄▅▆▇█';

/** One character per value, ▁ to █ scaled to `max`; zero is "·" so quiet hours still show. */
export function sparkline(values: number[], max = Math.max(0, ...values)): string {
  return values.map((v) => (v <= 0 || max <= 0 ? '·' : LEVELS[Math.min(LEVELS.length - 1, Math.ceil((v / max) * LEVELS.length) - 1)])).join('');
}

/** A horizontal bar of up to `width` cells with eighth-cell precision; anything above zero shows. */
export function bar(value: number, max: number, width: number): string {
  if (max <= 0 || value <= 0) return '';
  const cells = (value / max) * width;
  const full = Math.floor(cells);
  const part = ' ▏▎▍▌▋▊▉'[Math.round((cells - full) * 8)] ?? '';
  return '█'.repeat(full) + (part.trim() ? part : full === 0 ? '▏' : '');
}
