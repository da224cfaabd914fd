/**
 * RFC 5322 §2.2.3 folding: a long field is cut into lines by a CRLF placed before a space, so
 * unfolding (removing the CRLFs) gives back the field exactly.
 */

/** RFC 2047 §2 keeps lines that carry encoded-words to 76 characters, within RFC 5322's 78. */
export const LINE_TARGET = 76;
/** RFC 5322 §2.1.1: no line may be longer than 998 octets (CRLF excluded). */
export const LINE_LIMIT = 998;

export class HeaderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HeaderError';
  }
}

/**
 * `Name: token token …` with a fold before any token that would take its line past 76
 * characters. The value is `tokens.join(' ')`; the first token always stays beside the name, so
 * no line holds only the name. A single token too long for 998 octets is refused, not cut.
 */
export function foldHeader(name: string, tokens: readonly string[]): string {
  // RFC 5322 §2.2: a field name is printable ASCII other than the colon.
  if (!/^[\x21-\x39\x3b-\x7e]+$/.test(name)) throw new HeaderError(`"${name}" is not a header field name`);
  const lines: string[] = [];
  let line = `${name}:`;
  tokens.forEach((token, i) => {
    if (i > 0 && line.length + 1 + token.length > LINE_TARGET) {
      lines.push(line);
      line = '';
    }
    line += ` ${token}`;
  });
  lines.push(line);
  if (lines.some((l) => Buffer.byteLength(l, 'utf8') > LINE_LIMIT)) {
    throw new HeaderError(`the ${name} header has a part too long for one ${LINE_LIMIT}-octet line`);
  }
  return lines.join('\r\n');
}

/**
 * A value cut into tokens at the places a fold may go: before the last space of each run of
 * spaces, so no folded line is only white space.
 */
export function foldableTokens(value: string): string[] {
  return value === '' ? [] : value.split(/ (?=[^ ])/);
}
