import { createHmac } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Kysely } from 'kysely';
import type { Database } from '../db/types.js';
import { isMarketerError } from '../errors.js';
import { renderReportHtml } from '../report-page/render-report-html.js';
import { campaignReport } from '../reports/campaign-report.js';
import { sameSecret } from './handle-request.js';
import { isValidZone } from '../config/time-zones.js';

export interface ReportRouteDeps {
  db: Kysely<Database>;
  /** The API token; undefined turns /reports off (404), as it does the API. */
  apiToken: string | undefined;
}

const COOKIE = 'marketer_report';
// A browser session for reading reports, not a login that lasts: twelve hours.
const COOKIE_SECONDS = 12 * 3600;

/**
 * The cookie holds a keyed hash of the API token, never the token: a cookie copied out of a
 * browser opens reports only, and changing MARKETER_API_TOKEN ends every such session.
 */
function cookieValue(apiToken: string): string {
  return createHmac('sha256', apiToken).update('marketer report session').digest('base64url');
}

function cookieOf(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

function reply(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // The page carries everything it needs; it may load nothing and be framed by nobody.
    'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'",
    ...headers,
  });
  res.end(html);
}

const message = (title: string, text: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex"><title>${title}</title></head><body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem"><h1>${title}</h1><p>${text}</p></body></html>`;

/**
 * `GET /reports/<id>[?tz=Zone]`: the campaign report as `marketer report` writes it. Behind the
 * API token, given as `Authorization: Bearer …`, as the report cookie, or once as `?token=…`,
 * which is exchanged for the cookie and removed from the address by a redirect (so it stays out
 * of the history, bookmarks and the next page's Referer). Returns false for other paths.
 */
export async function handleReportRequest(deps: ReportRouteDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const m = /^\/reports\/(\d{1,9})$/.exec(url.pathname);
  if (!m) return false;
  if (!deps.apiToken) {
    reply(res, 404, message('Not found', 'Reports are off: set MARKETER_API_TOKEN.'));
    return true;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    reply(res, 405, message('Method not allowed', 'Use GET.'), { allow: 'GET, HEAD' });
    return true;
  }
  const given = url.searchParams.get('token');
  if (given !== null) {
    url.searchParams.delete('token');
    const clean = `${url.pathname}${url.search}`;
    if (!sameSecret(given, deps.apiToken)) {
      reply(res, 401, message('Not authorised', 'That token is not the API token of this server.'));
      return true;
    }
    const secure = req.headers['x-forwarded-proto'] === 'https' || (req.socket as { encrypted?: boolean }).encrypted === true;
    reply(res, 303, '', {
      location: clean,
      'set-cookie': `${COOKIE}=${cookieValue(deps.apiToken)}; Path=/reports; Max-Age=${COOKIE_SECONDS}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`,
    });
    return true;
  }
  const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
  const cookie = cookieOf(req, COOKIE);
  const allowed = (bearer !== undefined && sameSecret(bearer, deps.apiToken)) || (cookie !== undefined && sameSecret(cookie, cookieValue(deps.apiToken)));
  if (!allowed) {
    reply(res, 401, message('Not authorised', 'Open this page once with ?token=&lt;MARKETER_API_TOKEN&gt;; it is then remembered for twelve hours.'), { 'www-authenticate': 'Bearer realm="marketer"' });
    return true;
  }
  const tz = url.searchParams.get('tz') ?? 'UTC';
  if (!isValidZone(tz)) {
    reply(res, 400, message('Bad time zone', 'tz must be an IANA time zone, e.g. Europe/Berlin.'));
    return true;
  }
  try {
    const report = await campaignReport(deps.db, Number(m[1]), { timezone: tz });
    reply(res, 200, req.method === 'HEAD' ? '' : renderReportHtml(report));
  } catch (err) {
    if (isMarketerError(err) && err.code === 'CAMPAIGN_NOT_FOUND') {
      reply(res, 404, message('Not found', `No campaign ${Number(m[1])}.`));
      return true;
    }
    throw err;
  }
  return true;
}
