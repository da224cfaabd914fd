import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { cloneDatabase } from '../helpers/clone-database.js';

/**
 * Each test file copies the migrated template. On a TimescaleDB server the extension's
 * background scheduler sits in databases, and a copy of a database someone is in fails with
 * "source database is being accessed by other users". Here a plain client plays the scheduler.
 */
const adminUrl = inject('pgUrl');
const suffix = randomBytes(4).toString('hex');
const template = `tpl_${suffix}`;
const copies = [`copy_${suffix}`, `refused_${suffix}`];

function urlOf(database: string): string {
  const u = new URL(adminUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: adminUrl });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

afterAll(async () => {
  await admin(async (c) => {
    for (const d of [...copies, template]) await c.query(`DROP DATABASE IF EXISTS ${d} WITH (FORCE)`);
  });
});

describe('copying the test template', () => {
  it('succeeds while a session that connected earlier still holds the template', async () => {
    await cloneDatabase(adminUrl, 'marketer_template', template);
    // The "scheduler" connects while connections are allowed, then the template is closed.
    const worker = new pg.Client({ connectionString: urlOf(template) });
    worker.on('error', () => undefined); // ended by the copy below, as intended
    await worker.connect();
    await worker.query('SELECT 1');
    await admin((c) => c.query(`ALTER DATABASE ${template} WITH ALLOW_CONNECTIONS false`));

    // What the suite ran into: Postgres waits 5 s for the session to leave, then refuses.
    await expect(admin((c) => c.query(`CREATE DATABASE ${copies[1]} TEMPLATE ${template}`))).rejects.toMatchObject({ code: '55006' });
    // A closed template takes no new session, so an ended one cannot come back.
    await expect(new pg.Client({ connectionString: urlOf(template) }).connect()).rejects.toMatchObject({ code: '55000' });

    await cloneDatabase(adminUrl, template, copies[0]!);
    // A full copy: the migrated schema is there.
    const copy = new pg.Client({ connectionString: urlOf(copies[0]!) });
    await copy.connect();
    const meta = await copy.query("SELECT 1 FROM marketer_meta WHERE key = 'schema'");
    await copy.end();
    expect(meta.rowCount).toBe(1);
    // The session in the way was ended.
    await expect(worker.query('SELECT 1')).rejects.toThrow();
    await worker.end().catch(() => undefined);
  }, 60_000);
});
