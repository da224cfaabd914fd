import pg from 'pg';

const IN_USE = '55006'; // "source database … is being accessed by other users"

/** End every other session on `database` (without the privilege to: nothing, the copy retries). */
async function endSessions(admin: pg.Client, database: string): Promise<void> {
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database])
    .catch(() => undefined);
}

/**
 * After the template is prepared: no one may connect to it any more, and whoever is still
 * connected is sent away. On a TimescaleDB server the background scheduler connects to every
 * database that allows connections, and CREATE DATABASE … TEMPLATE fails while anyone is in it.
 */
export async function closeTemplate(adminUrl: string, template: string): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE ${admin.escapeIdentifier(template)} WITH ALLOW_CONNECTIONS false`);
    await endSessions(admin, template);
  } finally {
    await admin.end();
  }
}

/**
 * CREATE DATABASE name TEMPLATE template. A session that connected before the template was
 * closed (a scheduler, a straggler) is ended first; if one is still leaving, Postgres waits up
 * to 5 s for it and then refuses, and the copy is tried again for up to `timeoutMs`.
 */
export async function cloneDatabase(adminUrl: string, template: string, name: string, timeoutMs = 30_000): Promise<void> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      await endSessions(admin, template);
      try {
        await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)} TEMPLATE ${admin.escapeIdentifier(template)}`);
        return;
      } catch (err) {
        if ((err as { code?: string }).code !== IN_USE || Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 100 + Math.random() * 200));
      }
    }
  } finally {
    await admin.end();
  }
}
