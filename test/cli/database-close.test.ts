import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

/**
 * A TCP proxy in front of Postgres that never closes its side towards the client: what a
 * command does when the server (or a pooler between) is slow to close the connection after the
 * client's goodbye. Records whether each client sent Postgres' Terminate message ('X').
 */
function lingeringProxy(target: URL) {
  const terminated: boolean[] = [];
  const held: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const index = terminated.push(false) - 1;
    held.push(client);
    const upstream = connect(Number(target.port), target.hostname);
    client.on('data', (chunk: Buffer) => {
      if (chunk.includes(Buffer.from([0x58, 0, 0, 0, 4]))) terminated[index] = true;
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    // Neither side's end is passed on: the client never sees the connection close.
    client.on('end', () => upstream.end());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  return {
    server,
    terminated,
    close: () => {
      for (const s of held) s.destroy();
      server.close();
    },
  };
}

let t: TestDb;
let proxy: ReturnType<typeof lingeringProxy>;
let proxyUrl: string;

beforeAll(async () => {
  t = await createTestDb();
  const target = new URL(t.url);
  proxy = lingeringProxy(target);
  await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
  const u = new URL(t.url);
  u.port = String((proxy.server.address() as AddressInfo).port);
  proxyUrl = u.toString();
});

afterAll(async () => {
  proxy.close();
  await t.close();
});

describe('a command ends when its work is done', () => {
  it('says goodbye to the database and exits without waiting for the server to close its end', async () => {
    const r = await runCli(['stats', '--json'], { env: { DATABASE_URL: proxyUrl }, timeoutMs: 30_000 });
    expect(r.signal).toBeNull();
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toBeDefined();
    // Every connection it opened ended with Terminate: the server was told, not left to time out.
    expect(proxy.terminated.length).toBeGreaterThan(0);
    expect(proxy.terminated.every(Boolean)).toBe(true);
  }, 60_000);
});
