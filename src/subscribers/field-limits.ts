/**
 * Per-field limits of an imported row. A subscriber's fields end up in headers, templates and
 * reports, so each has a size a person's data never needs to exceed; a row past one is
 * rejected (a 20 MB first_name is a broken export, not a name).
 */
export const FIELD_LIMITS = {
  /** first_name, last_name, source, consent_ip and each tag, in characters. */
  name: 256,
  /** One attribute value (an extra column) or consent_text, in bytes of UTF-8. */
  value: 4 * 1024,
} as const;

/** Characters that have no place in a name: C0 and C1 controls, DEL, line/paragraph separators. */
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

export function hasControlCharacters(s: string): boolean {
  return CONTROL.test(s);
}

/** The reason a value is over `limit` characters, or undefined. */
export function overNameLimit(column: string, value: string): string | undefined {
  return value.length > FIELD_LIMITS.name ? `${column} is ${value.length.toLocaleString('en-US')} characters (the limit is ${FIELD_LIMITS.name})` : undefined;
}

/** The reason a value is over the per-value byte limit, or undefined. */
export function overValueLimit(column: string, value: string): string | undefined {
  // Most values are short: count bytes only when the characters alone could exceed the limit.
  if (value.length * 3 <= FIELD_LIMITS.value) return undefined;
  const bytes = Buffer.byteLength(value);
  return bytes > FIELD_LIMITS.value ? `${column} is ${bytes.toLocaleString('en-US')} bytes (the limit is ${FIELD_LIMITS.value / 1024} KB)` : undefined;
}
