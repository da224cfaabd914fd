import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { runCli } from './helpers/cli.js';
import { createTestDb, type TestDb } from './helpers/db.js';
import { sesEnv, startSesEmulator, type SesEmulator } from './helpers/ses.js';
import { campaign, GitRepo, TEMPLATE } from './git/git-repo.js';

/**
 * A pull request's plan runs as a read-only database user and without the unsubscribe secret:
 * it must neither need nor attempt a write, and say clearly when the schema is not there.
 */

let t: TestDb;
let ses: SesEmulator;
const role = `marketer_ro_${randomBytes(4).toString('hex')}`;
const emptyDb = `empty_${randomBytes(4).toString('hex')}`;
let readOnlyUrl = '';

async function admin<T>(fn: (c: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const u = new URL(inject('pgUrl'));
  if (database) u.pathname = `/${database}`;
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

function asReadOnly(url: string, database?: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = 'read-only';
  if (database) u.pathname = `/${database}`;
  return u.toString();
}

beforeAll(async () => {
  t = await createTestDb();
  ses = await startSesEmulator();
  await sql`INSERT INTO subscribers (email, first_name, timezone, tags)
            SELECT 'user' || i || '@example.com', 'User' || i, 'UTC', '{newsletter}' FROM generate_series(1, 12) i`.execute(t.db);
  const dbName = new URL(t.url).pathname.slice(1);
  // What docs/aws-setup.md tells people to create for the pull request's plan.
  await admin(async (c) => {
    await c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'read-only'`);
    await c.query(`ALTER ROLE ${role} SET default_transaction_read_only = on`);
    await c.query(`GRANT CONNECT ON DATABASE ${dbName} TO ${role}`);
    await c.query(`CREATE DATABASE ${emptyDb}`);
  });
  await sql.raw(`GRANT USAGE ON SCHEMA public TO ${role}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`).execute(t.db);
  readOnlyUrl = asReadOnly(t.url);
});

afterAll(async () => {
  await ses?.stop();
  await t?.close();
  await admin(async (c) => {
    await c.query(`DROP DATABASE IF EXISTS ${emptyDb} WITH (FORCE)`);
    await c.query(`DROP ROLE IF EXISTS ${role}`);
  });
});

describe('plan with a read-only database user and no unsubscribe secret', () => {
  const repo = new GitRepo().write({
    'marketer.yaml': 'unsubscribe_url: https://mail.example.com/u\n',
    'templates/simple.mjml': TEMPLATE,
    'campaigns/launch.yaml': campaign(8, { subject: 'Launch day' }),
  });
  const base = repo.commit('base');
  // A pull request's job: SES reachable (the read-only role may call GetAccount), no secrets.
  const env = (url: string) => ({ ...sesEnv(ses.endpoint), MARKETER_UNSUBSCRIBE_SECRET: undefined, MARKETER_UNSUBSCRIBE_URL: undefined, DATABASE_URL: url });

  it('validate, plan and apply --plan work, write nothing, and say the links use a placeholder', async () => {
    const v = await runCli(['validate', '--no-summary'], { cwd: repo.dir, env: env(readOnlyUrl) , timeoutMs: 300_000 });
    expect(v.code, v.stderr).toBe(0);
    expect(v.stderr).toContain('unsubscribe links are signed with a placeholder secret because MARKETER_UNSUBSCRIBE_SECRET is not set here');

    const p = await runCli(['plan', 'campaigns/launch.yaml', '--json', '--no-summary'], { cwd: repo.dir, env: env(readOnlyUrl) , timeoutMs: 300_000 });
    expect(p.code, p.stderr).toBe(0);
    const plan = JSON.parse(p.stdout);
    expect(plan.audience).toBe(12);
    expect(plan.checks).toContainEqual({ name: 'unsubscribe secret', ok: true, detail: expect.stringContaining('a placeholder signs the links in this plan') });
    expect(plan.checks).toContainEqual(expect.objectContaining({ name: 'List-Unsubscribe headers', ok: true }));

    const a = await runCli(['apply', '--plan', '--since', base, '--json', '--no-summary'], { cwd: repo.dir, env: env(readOnlyUrl) , timeoutMs: 300_000 });
    expect(a.code, a.stderr).toBe(0);
    expect(JSON.parse(a.stdout)).toMatchObject({ plan: true, applied: [], unchanged: [{ file: 'campaigns/launch.yaml', campaign: 8 }] });

    // The role really cannot write: the same user is refused by apply, which records.
    const w = await runCli(['apply', '--since', base, '--no-summary'], { cwd: repo.dir, env: { ...env(readOnlyUrl), MARKETER_UNSUBSCRIBE_SECRET: 'x' } , timeoutMs: 300_000 });
    expect(w.code).toBe(1);
    expect(w.stderr).toMatch(/read-only transaction|permission denied/);
  }, 900_000);

  it('a schema from another version, or none at all, is a clear error and is left alone', async () => {
    const before = await sql<{ value: string }>`SELECT value FROM marketer_meta WHERE key = 'schema'`.execute(t.db);
    await sql`UPDATE marketer_meta SET value = '{"hash":"older","result":{"engine":"postgres"}}' WHERE key = 'schema'`.execute(t.db);
    try {
      const p = await runCli(['plan', 'campaigns/launch.yaml', '--no-summary'], { cwd: repo.dir, env: env(readOnlyUrl) , timeoutMs: 300_000 });
      expect(p.code).toBe(1);
      expect(p.stderr).toContain('The database schema is not the one this version of marketer expects (it was set up by another version), and this command never changes the schema.');
      expect(p.stderr).toContain('Run `marketer db migrate` (or the next `marketer apply`) with a database user that may change the schema');
      // Even a user that could write does not migrate from plan.
      const owner = await runCli(['plan', 'campaigns/launch.yaml', '--no-summary'], { cwd: repo.dir, env: env(t.url) , timeoutMs: 300_000 });
      expect(owner.code).toBe(1);
      const meta = await sql<{ value: string }>`SELECT value FROM marketer_meta WHERE key = 'schema'`.execute(t.db);
      expect(meta.rows[0]!.value).toContain('"older"');
    } finally {
      await sql`UPDATE marketer_meta SET value = ${before.rows[0]!.value} WHERE key = 'schema'`.execute(t.db);
    }

    const empty = await runCli(['plan', 'campaigns/launch.yaml', '--no-summary'], { cwd: repo.dir, env: env(asReadOnly(t.url, emptyDb)) });
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain('The database has no marketer schema yet, and this command never creates it.');
    const tables = await admin((c) => c.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`), emptyDb);
    expect(tables.rows[0].n).toBe(0);
  }, 900_000);
});
