import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequestHandler } from '../../src/serve/handle-request.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { seedDecemberCampaign } from '../fixtures/ses/december-campaign.js';

const API_TOKEN = 'report-api-token-0123456789';
let t: TestDb;
let server: Server;
let base: string;

beforeAll(async () => {
  t = await createTestDb();
  await seedDecemberCampaign(t.db);
  server = createServer(
    createRequestHandler({
      db: t.db, unsubscribeSecret: undefined, apiToken: API_TOKEN, ingest: { softBounceLimit: 3 },
      fetchCert: async () => '', confirmSubscription: async () => undefined, snsTopicArns: undefined, log: () => undefined,
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise<void>((r) => server?.close(() => r()));
  await t?.close();
});

describe('GET /reports/<id> on marketer serve', () => {
  it('refuses without the token', async () => {
    const r = await fetch(`${base}/reports/7`);
    expect(r.status).toBe(401);
    expect(await r.text()).not.toContain('December news');
    const wrong = await fetch(`${base}/reports/7?token=nope`, { redirect: 'manual' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('set-cookie')).toBeNull();
  });

  it('exchanges ?token= for an HttpOnly cookie and redirects to the address without it', async () => {
    const r = await fetch(`${base}/reports/7?tz=Europe/Berlin&token=${API_TOKEN}`, { redirect: 'manual' });
    expect(r.status).toBe(303);
    expect(r.headers.get('location')).toBe('/reports/7?tz=Europe%2FBerlin');
    const cookie = r.headers.get('set-cookie')!;
    expect(cookie).toMatch(/^marketer_report=[\w-]+; Path=\/reports; Max-Age=43200; HttpOnly; SameSite=Strict$/);
    // The cookie is not the token itself.
    expect(cookie).not.toContain(API_TOKEN);
    const page = await fetch(`${base}${r.headers.get('location')}`, { headers: { cookie: cookie.split(';')[0]! } });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(page.headers.get('content-security-policy')).toContain("default-src 'none'");
    const html = await page.text();
    expect(html).toContain('<title>Campaign 7: December news</title>');
    expect(html).toContain('times in Europe/Berlin');
    // A forged cookie opens nothing.
    const forged = await fetch(`${base}/reports/7`, { headers: { cookie: 'marketer_report=abc' } });
    expect(forged.status).toBe(401);
  });

  it('takes the bearer token too, and answers 404 for an unknown campaign', async () => {
    const ok = await fetch(`${base}/reports/7`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(ok.status).toBe(200);
    const missing = await fetch(`${base}/reports/99`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(missing.status).toBe(404);
    const badZone = await fetch(`${base}/reports/7?tz=Mars/Olympus`, { headers: { authorization: `Bearer ${API_TOKEN}` } });
    expect(badZone.status).toBe(400);
  });
});
