import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Kysely, PostgresDialect } from 'kysely';
import { inject } from 'vitest';
import type { Database } from '../../src/db/types.js';
import { sessionOptions } from '../../src/db/address-hash.js';
import { PreparingClient } from '../../src/db/prepared-statements.js';
import { TEST_HASH_KEYS } from './hash-key.js';
import { cloneDatabase } from './clone-database.js';

export interface TestDb {
  /** Connection URL of this file's own database (pass as DATABASE_URL to the CLI). */
  url: string;
  db: Kysely<Database>;
  pool: pg.Pool;
  close(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** A fresh, migrated database cloned from the template made in global-setup. */
export async function createTestDb(): Promise<TestDb> {
  const adminUrl = inject('pgUrl');
  const name = `t_${randomBytes(6).toString('hex')}`;
  await cloneDatabase(adminUrl, 'marketer_template', name);
  const url = withDatabase(adminUrl, name);
  // The same address-hash key as the CLI gets from cleanEnv(), so both see the same hashes, and
  // the same client class as the CLI's pool (src/db/connect.ts).
  const pool = new pg.Pool({ connectionString: url, max: 5, options: sessionOptions(TEST_HASH_KEYS), Client: PreparingClient });
  // close() drops the database WITH (FORCE); a connection still closing then gets FATAL 57P01,
  // which is expected and must not surface as an unhandled error.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    url,
    db,
    pool,
    async close() {
      await db.destroy();
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
