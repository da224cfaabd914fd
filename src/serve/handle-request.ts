import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sql, type Kysely } from 'kysely';
import { verifyUnsubscribeToken } from '../campaigns/unsubscribe-token.js';
import type { Database } from '../db/types.js';
import { isMarketerError } from '../errors.js';
import { ingestRecords, type IngestOptions } from '../events/ingest-events.js';
import { isDataError } from '../events/isolate-poison.js';
import { unwrapRecords } from '../events/parse-ses-event.js';
import { SnsVerifyError, verifySnsMessage, type CertFetcher } from '../events/sns-verify.js';
import { campaignStats } from '../reports/campaign-stats.js';
import { parseSinceTime } from '../reports/parse-since.js';
import { recordUnsubscribe } from '../subscribers/suppress.js';
import { handleReportRequest } from './report-route.js';
import { isValidZone } from '../config/time-zones.js';

export interface ServeDeps {
  db: Kysely<Database>;
  /** HMAC secret of unsubscribe tokens; undefined turns /u off (503). */
  unsubscribeSecret: string | undefined;
  /** Bearer token of /api; undefined turns the API off (404). */
  apiToken: string | undefined;
  ingest: IngestOptions;
  fetchCert: CertFetcher;
  confirmSubscription: (subscribeUrl: string) => Promise<void>;
  /**
   * The SNS topics whose messages are accepted. A valid signature only proves a message came
   * from some SNS topic, possibly one in an attacker's account publishing forged bounces; so
   * /sns is off (404) until the topics are named.
   */
  snsTopicArns: string[] | undefined;
  /** One line per request or notable event; never given secrets or tokens. */
  log: (line: string) => void;
  /** How long a request body may take to arrive (default 30 s). */
  bodyTimeoutMs?: number;
}

// SNS messages are at most 256 KB; one-click bodies are a few bytes.
const MAX_BODY = 300 * 1024;
// A slow body holds a connection and its buffer; 30 s is far more than 300 KB needs.
const BODY_TIMEOUT_MS = 30_000;
// What is read and thrown away after a 413, so that the client is not reset before it has read
// the answer (closing a socket with unread data sends a TCP RST, which can discard it).
const MAX_DISCARD = 16 * 1024 * 1024;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Read and drop the rest of a refused body, then close: at most MAX_DISCARD bytes or `ms`. */
function discardRest(req: IncomingMessage, ms: number): void {
  let dropped = 0;
  const close = () => req.socket.destroy();
  const timer = setTimeout(close, ms);
  timer.unref();
  req.on('data', (c: Buffer) => {
    dropped += c.length;
    if (dropped > MAX_DISCARD) close();
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}

/**
 * The request body as text, within MAX_BODY bytes and `timeoutMs`. Over the size, 413 (declared
 * or counted); too slow, 408. Either is answered before the connection closes.
 */
function readBody(req: IncomingMessage, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => new HttpError(413, `request body larger than ${MAX_BODY / 1024} KB`);
    if (Number(req.headers['content-length']) > MAX_BODY) {
      discardRest(req, timeoutMs);
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const finish = (err: Error | undefined) => {
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(() => finish(new HttpError(408, `request body not received within ${timeoutMs / 1000} s`)), timeoutMs);
    req.on('data', (c: Buffer) => {
      if (settled) return;
      size += c.length;
      if (size > MAX_BODY) {
        chunks.length = 0;
        finish(tooLarge());
        discardRest(req, timeoutMs);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      if (!settled) finish(undefined);
    });
    req.on('error', (err) => {
      if (!settled) finish(err);
    });
  });
}

function send(res: ServerResponse, status: number, type: 'json' | 'html' | 'text', body: string, headers: Record<string, string> = {}): void {
  const ct = { json: 'application/json; charset=utf-8', html: 'text/html; charset=utf-8', text: 'text/plain; charset=utf-8' }[type];
  res.writeHead(status, { 'content-type': ct, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', ...headers });
  res.end(body);
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#222}button{font-size:1rem;padding:.6rem 1.2rem;cursor:pointer}</style></head>
<body><h1>${escapeHtml(title)}</h1>${body}</body></html>`;
}

/** Compare secrets in constant time, whatever their lengths (hashing first equalises them). */
export function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Paths as logged: tokens are replaced, so logs never carry a working unsubscribe link. */
export function redactPath(path: string): string {
  return path.replace(/^\/u\/[^/?#]+/, '/u/<token>');
}

/** The request handler of `marketer serve`. */
export function createRequestHandler(deps: ServeDeps): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const started = Date.now();
    const url = new URL(req.url ?? '/', 'http://localhost');
    route(deps, req, res, url)
      .catch((err: unknown) => {
        if (err instanceof HttpError) {
          // A slow client's connection is not kept for another request.
          if (!res.headersSent) send(res, err.status, 'json', JSON.stringify({ error: err.message }), err.status === 408 ? { connection: 'close' } : {});
          return;
        }
        deps.log(`error ${req.method} ${redactPath(url.pathname)}: ${(err as Error)?.message ?? String(err)}`);
        if (!res.headersSent) send(res, 500, 'json', JSON.stringify({ error: 'internal error' }));
      })
      .finally(() => deps.log(`${req.method} ${redactPath(url.pathname)} ${res.statusCode} ${Date.now() - started}ms`));
  };
}

async function route(deps: ServeDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const allow = (methods: string[]) => {
    if (!methods.includes(method)) throw new HttpError(405, `use ${methods.join(' or ')}`);
  };
  if (path === '/healthz') {
    allow(['GET', 'HEAD']);
    await sql`SELECT 1`.execute(deps.db);
    send(res, 200, 'json', JSON.stringify({ ok: true }));
    return;
  }
  const unsub = /^\/u\/([^/]+)$/.exec(path);
  if (unsub) {
    allow(['GET', 'POST']);
    let token: string;
    try {
      token = decodeURIComponent(unsub[1]!);
    } catch {
      throw new HttpError(400, 'malformed token');
    }
    await unsubscribe(deps, req, res, method, token);
    return;
  }
  if (path === '/sns') {
    allow(['POST']);
    if (!deps.snsTopicArns || deps.snsTopicArns.length === 0) throw new HttpError(404, 'the SNS endpoint is off: set sns_topic_arns');
    await sns(deps, req, res);
    return;
  }
  const api = /^\/api\/campaigns\/(\d{1,9})\/stats$/.exec(path);
  if (api) {
    // No token configured: the API does not exist, rather than being open.
    if (!deps.apiToken) throw new HttpError(404, 'not found');
    allow(['GET']);
    const auth = req.headers.authorization ?? '';
    const m = /^Bearer\s+(\S+)$/i.exec(auth);
    if (!m || !sameSecret(m[1]!, deps.apiToken)) {
      send(res, 401, 'json', JSON.stringify({ error: 'missing or wrong bearer token' }), { 'www-authenticate': 'Bearer realm="marketer"' });
      return;
    }
    const tz = url.searchParams.get('tz') ?? 'UTC';
    if (!isValidZone(tz)) throw new HttpError(400, 'tz must be an IANA time zone');
    const sinceParam = url.searchParams.get('since');
    const since = sinceParam ? parseSinceTime(sinceParam, tz) : undefined;
    if (sinceParam && !since) throw new HttpError(400, 'since must be an ISO 8601 time from 1970 to 9999 (e.g. 2026-12-01T00:00:00Z) or a look-back like 24h');
    try {
      const stats = await campaignStats(deps.db, Number(api[1]), { timezone: tz, since });
      send(res, 200, 'json', JSON.stringify(stats));
    } catch (err) {
      if (isMarketerError(err) && err.code === 'CAMPAIGN_NOT_FOUND') throw new HttpError(404, err.message);
      // A parameter Postgres refuses (a zone its tz database lacks) is the caller's, not ours.
      if (isDataError(err)) throw new HttpError(400, `bad parameter: ${(err as Error).message}`);
      throw err;
    }
    return;
  }
  if (await handleReportRequest(deps, req, res, url)) return;
  throw new HttpError(404, 'not found');
}

async function unsubscribe(deps: ServeDeps, req: IncomingMessage, res: ServerResponse, method: string, token: string): Promise<void> {
  if (!deps.unsubscribeSecret) {
    send(res, 503, 'html', page('Unsubscribe unavailable', '<p>This server has no unsubscribe secret configured. Please reply to the email to unsubscribe.</p>'));
    return;
  }
  const claims = verifyUnsubscribeToken(deps.unsubscribeSecret, token);
  if (!claims) {
    if (method === 'POST') await readBody(req, deps.bodyTimeoutMs ?? BODY_TIMEOUT_MS);
    send(res, 400, 'html', page('Link not valid', '<p>This unsubscribe link is not valid. Please use the link from the email as it is, or reply to the email.</p>'));
    return;
  }
  if (method === 'GET') {
    // GET never unsubscribes: mail scanners and previews follow links. The form posts to the
    // page's own URL, relative, so it works behind a path prefix (https://host/mail/u/<token>).
    send(res, 200, 'html', page('Unsubscribe', `<p>Stop receiving these emails?</p><form method="post" action="./${encodeURIComponent(token)}"><button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form>`));
    return;
  }
  // RFC 8058: the body is "List-Unsubscribe=One-Click"; the signed token alone authorises it.
  await readBody(req, deps.bodyTimeoutMs ?? BODY_TIMEOUT_MS);
  const r = await deps.db.transaction().execute((trx) => recordUnsubscribe(trx, { subscriberId: claims.subscriberId, campaignId: claims.campaignId, detail: `one-click, campaign ${claims.campaignId}` }));
  deps.log(`unsubscribed subscriber ${claims.subscriberId} (campaign ${claims.campaignId})${r.known ? '' : ' — no such subscriber any more'}`);
  send(res, 200, 'html', page('Unsubscribed', '<p>You will not receive these emails any more.</p>'));
}

async function sns(deps: ServeDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const text = await readBody(req, deps.bodyTimeoutMs ?? BODY_TIMEOUT_MS);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new HttpError(400, 'body is not JSON');
  }
  let message;
  try {
    message = await verifySnsMessage(body, deps.fetchCert);
  } catch (err) {
    if (err instanceof SnsVerifyError) {
      deps.log(`rejected an SNS message: ${err.message}`);
      throw new HttpError(403, `SNS message rejected: ${err.message}`);
    }
    throw err;
  }
  // Checked before anything is confirmed or stored: only our own topics may talk to us.
  if (!deps.snsTopicArns?.includes(message.TopicArn)) {
    deps.log(`rejected an SNS message from topic ${message.TopicArn}: not in sns_topic_arns`);
    throw new HttpError(403, 'SNS message rejected: topic not allowed');
  }
  if (message.Type === 'SubscriptionConfirmation') {
    try {
      await deps.confirmSubscription(message.SubscribeURL!);
    } catch (err) {
      // SNS sends the confirmation again; a 500 would only say the fault is ours.
      deps.log(`could not confirm the SNS subscription to ${message.TopicArn}: ${(err as Error).message}`);
      throw new HttpError(400, `subscription not confirmed: ${(err as Error).message}`);
    }
    deps.log(`confirmed the SNS subscription to ${message.TopicArn}`);
    send(res, 200, 'json', JSON.stringify({ confirmed: message.TopicArn }));
    return;
  }
  if (message.Type === 'UnsubscribeConfirmation') {
    deps.log(`SNS subscription to ${message.TopicArn} ended`);
    send(res, 200, 'json', JSON.stringify({ ok: true }));
    return;
  }
  let record: unknown;
  try {
    record = JSON.parse(message.Message);
  } catch {
    // Signed by SNS but not an SES record: acknowledge, or SNS retries it for days.
    deps.log(`SNS message ${message.MessageId} is not JSON; skipped`);
    send(res, 200, 'json', JSON.stringify({ ingested: 0, malformed: 1 }));
    return;
  }
  const { records, malformed } = unwrapRecords(record, `sns ${message.MessageId}`, message.MessageId);
  const r = await ingestRecords(deps.db, records, deps.ingest);
  for (const p of [...malformed, ...r.problems]) deps.log(`${p.position}: skipped malformed record: ${p.reason}`);
  send(res, 200, 'json', JSON.stringify({ ingested: r.ingested, duplicates: r.duplicates, unmatched: r.unmatched, malformed: r.malformed + malformed.length }));
}
