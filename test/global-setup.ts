import { rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { freePort, startEmbedded, type EmbeddedServer } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from '../src/db/types.js';
import { closeTemplate } from './helpers/clone-database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgUrl: string;
  }
}

let server: EmbeddedServer | undefined;
let dataDir: string | undefined;

/**
 * One throwaway embedded Postgres for the whole run (or TEST_DATABASE_URL's server). A template
 * database is migrated once; each test file clones it (test/helpers/db.ts).
 */
export async function setup(project: TestProject): Promise<void> {
  let adminUrl = process.env.TEST_DATABASE_URL;
  if (!adminUrl) {
    // One cluster per run (several runs may share a checkout), removed at teardown.
    dataDir = path.resolve(`.marketer/test-pg-${process.pid}`);
    rmSync(dataDir, { recursive: true, force: true });
    server = await startEmbedded({
      dataDir,
      port: await freePort(),
      database: 'postgres',
      // A disposable cluster: durability buys nothing here.
      settings: { fsync: 'off', synchronous_commit: 'off', full_page_writes: 'off', max_connections: '300' },
    });
    adminUrl = server.url;
  }
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  // WITH (FORCE): a TimescaleDB scheduler may sit in the one a previous run left.
  await admin.query('DROP DATABASE IF EXISTS marketer_template WITH (FORCE)');
  await admin.query('CREATE DATABASE marketer_template');
  await admin.end();
  const templateUrl = withDatabase(adminUrl, 'marketer_template');
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: templateUrl, max: 1 }) }) });
  await migrate(db);
  await db.destroy();
  // Each test file copies it (test/helpers/db.ts); nobody may be connected to it meanwhile.
  await closeTemplate(adminUrl, 'marketer_template');
  project.provide('pgUrl', adminUrl);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}
