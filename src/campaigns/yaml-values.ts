import { isMap, isScalar, isSeq, type Node as YamlNode } from 'yaml';

/** A YAML value as a problem message names it: "a list", "the number 3", "text \"x\"". */
export function describe(node: YamlNode | null): string {
  if (!node) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return 'nothing';
    if (typeof v === 'string') return `text ${JSON.stringify(v)}`;
    if (typeof v === 'number') return `the number ${v}`;
    if (typeof v === 'boolean') return `${v}`;
  }
  return 'something else';
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "6h", "90m", "1h30m", "45s", "2d" → seconds; undefined for anything else (bare numbers too). */
export function parseDuration(text: string): number | undefined {
  const s = text.trim().toLowerCase();
  if (!/^(\d+\s*[smhd]\s*)+$/.test(s)) return undefined;
  let total = 0;
  for (const m of s.matchAll(/(\d+)\s*([smhd])/g)) total += Number(m[1]) * (UNIT_SECONDS[m[2] ?? 's'] ?? 1);
  return total;
}
