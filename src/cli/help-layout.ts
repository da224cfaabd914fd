import { terminalWidth, wrapText } from './format.js';

/**
 * Lay out help text for the terminal's width. Commander wraps its own option and command lists;
 * the free text commands add (notes, reference tables, examples) is written as plain lines, and
 * would break mid-word on a narrow terminal. Here:
 * - prose (consecutive lines starting at column 0, not a heading ending in ":") is joined and
 *   wrapped at word boundaries;
 * - an indented line too long for the width keeps its first column and wraps the rest under its
 *   description column (the text after the last run of two or more spaces);
 * - an example command (`$ …`) is broken at a space outside quotes with a shell continuation
 *   ("\"), so it still runs when pasted.
 */
export function layoutHelp(text: string, width = terminalWidth()): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let prose: string[] = [];
  let block = false; // inside commander's own usage/options block: keep as is
  const flush = () => {
    if (prose.length) out.push(wrapText(prose.join(' '), width));
    prose = [];
  };
  for (const line of lines) {
    if (/^(Usage|Options|Commands|Arguments):/.test(line) || line.startsWith('Usage: ')) block = true;
    if (line.trim() === '') {
      flush();
      block = false;
      out.push(line);
      continue;
    }
    const indented = /^\s/.test(line);
    if (!indented && !block && !/:$/.test(line.trimEnd()) && !/^\$ /.test(line)) {
      prose.push(line.trim());
      continue;
    }
    flush();
    out.push(line.length <= width ? line : indented && /^\s*\$ /.test(line) ? breakCommand(line, width) : hang(line, width));
  }
  flush();
  return out.join('\n');
}

function hang(line: string, width: number): string {
  const indent = /^\s*/.exec(line)![0].length;
  const gaps = [...line.matchAll(/\S(\s{2,})(?=\S)/g)];
  const last = gaps[gaps.length - 1];
  const col = last ? (last.index ?? 0) + 1 + last[1]!.length : 0;
  if (col === 0 || col > width - 24) {
    // No description column that leaves room: wrap the whole line, hanging by four.
    return ' '.repeat(indent) + wrapText(line.trim(), width - indent, 4).split('\n').join(`\n${' '.repeat(indent)}`);
  }
  const head = line.slice(0, col);
  const rest = line.slice(col);
  if (head.trimEnd().length >= col - 1 && head.length > width) return line;
  const wrapped = wrapText(rest, width - col).split('\n');
  const first = head.length + wrapped[0]!.length <= width ? [`${head}${wrapped.shift()}`] : [head.trimEnd()];
  return [...first, ...wrapped.map((w) => ' '.repeat(col) + w)].join('\n');
}

function breakCommand(line: string, width: number): string {
  const indent = /^\s*/.exec(line)![0].length;
  const parts: string[] = [];
  let rest = line;
  let prefix = '';
  while (prefix.length + rest.length > width) {
    let quote = '';
    let cut = -1;
    for (let i = 0; i < rest.length && prefix.length + i < width - 2; i++) {
      const ch = rest[i]!;
      if (quote) {
        if (ch === quote) quote = '';
      } else if (ch === "'" || ch === '"') quote = ch;
      else if (ch === ' ' && i > indent + 2) cut = i;
    }
    if (cut < 0) break;
    parts.push(`${prefix}${rest.slice(0, cut)} \\`);
    rest = rest.slice(cut + 1);
    prefix = ' '.repeat(indent + 4);
  }
  parts.push(prefix + rest);
  return parts.join('\n');
}
