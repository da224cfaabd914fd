/**
 * A batch's column as a Postgres array literal, for `${sqlArray(values)}::text[]` (or any other
 * array type: the server parses the literal by the cast).
 *
 * node-postgres turns a JavaScript array into a literal element by element, two regular
 * expressions per string; a batch of 2,000 events sends a dozen such columns. JSON.stringify does
 * the same work natively, and its output is already a valid array literal whenever the only
 * escapes in it are \" and \\ (which both formats share): `["a",null,"b\"c"]` becomes
 * `{"a",null,"b\"c"}`, where an unquoted null is NULL. Any other escape (a control character,
 * which JSON writes as \n or \u0001, or a lone surrogate) means the string must take the
 * element-by-element path, so it is handed back unchanged for node-postgres to write.
 */
export function sqlArray(values: readonly (string | number | null)[]): string | readonly (string | number | null)[] {
  const json = JSON.stringify(values);
  if (!onlySharedEscapes(json)) return values;
  return `{${json.slice(1, -1)}}`;
}

/**
 * Whether every escape in JSON text is \" or \\. A scan for backslashes with indexOf, which
 * JSON rarely has, where a regular expression allocated on every column.
 */
function onlySharedEscapes(json: string): boolean {
  for (let i = json.indexOf('\\'); i !== -1; i = json.indexOf('\\', i + 2)) {
    const next = json.charCodeAt(i + 1);
    if (next !== 34 && next !== 92) return false;
  }
  return true;
}
