import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('HTTP endpoints: one-click unsubscribe, SNS event notifications, a stats API, campaign reports, a health check')
    .option('--port <port>', 'port to listen on', '8080')
    .option('--host <host>', 'address to bind: loopback by default; 0.0.0.0 exposes it on every interface', '127.0.0.1')
    .addHelpText(
      'after',
      `
Endpoints:
  POST /u/<token>                  RFC 8058 one-click unsubscribe (GET shows a page with a button)
  POST /sns                        SNS HTTPS subscription for SES events (signature verified)
  GET  /api/campaigns/<id>/stats   same document as "marketer stats <id> --json";
                                   needs "Authorization: Bearer $MARKETER_API_TOKEN" (unset: off)
  GET  /reports/<id>?tz=<zone>     the "marketer report" page; open it once with
                                   ?token=$MARKETER_API_TOKEN (kept as a cookie for 12 h)
  GET  /healthz

It listens on 127.0.0.1 (loopback) unless --host says otherwise: put it behind a
TLS-terminating proxy on the same machine (List-Unsubscribe links must be https), or pass
--host 0.0.0.0 to take connections from elsewhere (a container, a proxy on another host).
Request bodies are limited to 300 KB (413) and 30 s (408).

Examples:
  $ MARKETER_UNSUBSCRIBE_SECRET=… MARKETER_API_TOKEN=… marketer serve --port 8080
  $ marketer serve --host 0.0.0.0 --port 8080     # in a container
`,
    )
    .action(lazyAction(() => import('../commands/serve.js'), (m) => m.serveAction));
}
