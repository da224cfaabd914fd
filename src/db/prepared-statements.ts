import { createHash } from 'node:crypto';
import pg from 'pg';

/**
 * A statement whose text begins with this comment is prepared once per connection, under a name
 * taken from its text, and executed by that name afterwards: Postgres parses, analyses and
 * (once it settles on a generic plan, after five runs) plans it once per connection instead of
 * once per run. Meant for the few statements a command runs thousands of times with only their
 * parameters changing (the ingest's per-batch statements); everything else goes as before.
 *
 * `sql\`${sql.raw(PREPARED)} INSERT …\``, or the comment written at the start of the template.
 */
export const PREPARED = '/* prepared */';

// Text → name; a name is the text's hash, so one name never stands for two texts (pg refuses that).
const names = new Map<string, string>();

function nameOf(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `marketer_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
    // The texts are the program's own, a few dozen at most; the bound is only a guard.
    if (names.size < 1000) names.set(text, name);
  }
  return name;
}

/**
 * pg's Client, for a Pool's `Client` option: a query given as text beginning with PREPARED and
 * with parameters goes as a named statement (pg sends its Parse once per connection and only
 * Bind and Execute after). Kysely hands every statement to the client as text and values, so the
 * statement itself says whether it is prepared.
 */
export class PreparingClient extends pg.Client {
  override query(...args: unknown[]): never {
    const [text, values] = args;
    if (typeof text === 'string' && Array.isArray(values) && values.length > 0 && text.startsWith(PREPARED)) {
      args[0] = { name: nameOf(text), text };
    }
    return (super.query as unknown as (...a: unknown[]) => never)(...args);
  }
}
