/**
 * A database URL fit for a message or a log line: the password in the authority and every
 * secret-bearing query parameter (`password`, `sslpassword`, and any other whose name ends in
 * "password", "secret", "token" or "key") masked. A URL that does not parse is not echoed.
 */
const SECRET_PARAM = /(password|passwd|secret|token|key)$/i;

export function maskUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '<unparseable database URL>';
  }
  if (u.password) u.password = '***';
  for (const name of [...new Set(u.searchParams.keys())]) {
    if (SECRET_PARAM.test(name)) u.searchParams.set(name, '***');
  }
  // The session options carry no secret of the user's, but may carry marketer's own settings.
  if (u.searchParams.has('options') && /address_key/.test(u.searchParams.get('options') ?? '')) u.searchParams.set('options', '***');
  return u.toString().replace(/%2A%2A%2A/g, '***');
}

/** Every database URL inside a piece of text (an error message), masked. */
export function maskUrlsIn(text: string): string {
  return text.replace(/\bpostgres(?:ql)?:\/\/[^\s'"<>]+/gi, (m) => {
    // Sentence punctuation after a URL is not part of it.
    const tail = /[).,;:]+$/.exec(m)?.[0] ?? '';
    return maskUrl(m.slice(0, m.length - tail.length)) + tail;
  });
}
