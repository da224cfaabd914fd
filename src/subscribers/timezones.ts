import type pg from 'pg';

/**
 * The zone names this Postgres knows, keyed by lower case. Waves are computed in SQL with
 * `AT TIME ZONE`, so a zone is valid exactly when the server accepts it; checking against its
 * own list at import means planning can never fail on a stored zone.
 */
export async function loadZoneNames(pool: pg.Pool): Promise<Map<string, string>> {
  const { rows } = await pool.query<{ name: string }>("SELECT name FROM pg_timezone_names WHERE name NOT LIKE 'posix/%'");
  return new Map(rows.map((r) => [r.name.toLowerCase(), r.name]));
}
