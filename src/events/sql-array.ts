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
  if (OTHER_ESCAPE.test(json)) return values;
  return `{${json.slice(1, -1)}}`;
}

// A backslash followed by anything but a quote or a backslash. An escaped backslash followed by
// a letter (\\n, from the two characters \ and n) matches too: it only sends that batch's column
// the slower way.
const OTHER_ESCAPE = /\\[^"\\]/;
