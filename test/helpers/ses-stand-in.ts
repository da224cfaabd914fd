import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Zone } from './dns-server.js';

/**
 * A local stand-in for the parts of SES v2 and SQS that aws-ses-v2-local lacks: GetAccount,
 * GetEmailIdentity, GetConfigurationSet, GetConfigurationSetEventDestinations (REST-JSON, as the
 * SDK calls them) and SQS GetQueueAttributes (JSON 1.0). Answers come from `state`, which a test
 * changes between runs; errors have the status, error type header and body SES gives. Every
 * other request (SendEmail) goes to `upstream` when one is given, so a send works end to end.
 */
export interface StandInState {
  /** GetAccount's answer. */
  account: Record<string, unknown>;
  /** GetEmailIdentity's answer per identity (an address or a domain); absent = NotFoundException. */
  identities: Record<string, Record<string, unknown>>;
  /** Absent = NotFoundException. */
  configurationSets: Record<string, { set: Record<string, unknown>; destinations: Record<string, unknown>[] }>;
  /** Queue name (last path segment of the URL) → attributes; absent = QueueDoesNotExist. */
  queues: Record<string, Record<string, string>>;
  /** Operations answered with AccessDeniedException, as for a role without the permission. */
  deny: Set<string>;
  /** Answer SendEmail from an address no verified identity covers with SES's MessageRejected. */
  checkSenders?: boolean;
  /**
   * Answer SendEmail to a recipient no verified identity covers with MessageRejected naming it,
   * as SES does while the account is in the sandbox.
   */
  checkRecipients?: boolean;
  /** Answer every SendEmail with this SES error (HTTP 400), e.g. SendingPausedException. */
  refuseSends?: { type: string; message: string };
}

export interface SesStandIn {
  endpoint: string;
  state: StandInState;
  /** Operations called, in order, e.g. "GetEmailIdentity example.com". */
  calls: string[];
  queueUrl(name: string): string;
  stop(): Promise<void>;
}

export const ACCOUNT_ID = '123456789012';
export const REGION = 'us-east-1';

export async function startSesStandIn(state: StandInState, upstream?: string): Promise<SesStandIn> {
  const standIn: SesStandIn = { endpoint: '', state, calls: [], queueUrl: (n) => `${standIn.endpoint}/${ACCOUNT_ID}/${n}`, stop: async () => undefined };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const reply = route(standIn, req.method ?? 'GET', req.url ?? '/', String(req.headers['x-amz-target'] ?? ''), body.toString());
      if (reply) {
        res.writeHead(reply.status, { 'content-type': reply.contentType, ...(reply.errorType ? { 'x-amzn-errortype': reply.errorType } : {}) });
        res.end(JSON.stringify(reply.body));
        return;
      }
      if (!upstream) {
        // What aws-ses-v2-local answers for a call it does not know: not an AWS error at all.
        res.writeHead(404, { 'content-type': 'text/html' });
        res.end('<UnknownOperationException/>');
        return;
      }
      const up = http.request(`${upstream}${req.url}`, { method: req.method, headers: req.headers }, (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      });
      up.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      up.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  standIn.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  standIn.stop = () => new Promise((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });
  return standIn;
}

interface Reply {
  status: number;
  contentType: string;
  errorType?: string;
  body: unknown;
}

const json = (body: unknown): Reply => ({ status: 200, contentType: 'application/json', body });
const sesError = (status: number, type: string, message: string): Reply => ({ status, contentType: 'application/json', errorType: type, body: { message } });

function route(s: SesStandIn, method: string, url: string, target: string, text: string): Reply | undefined {
  const path = url.split('?')[0]!;
  if (method === 'POST' && target.startsWith('AmazonSQS.')) return sqs(s, target.slice('AmazonSQS.'.length), text);
  if (method === 'POST' && path === '/v2/email/outbound-emails' && s.state.refuseSends) {
    s.calls.push(`SendEmail refused ${s.state.refuseSends.type}`);
    return sesError(400, s.state.refuseSends.type, s.state.refuseSends.message);
  }
  if (method === 'POST' && path === '/v2/email/outbound-emails' && (s.state.checkSenders || s.state.checkRecipients)) return unverifiedIdentity(s, text);
  if (method !== 'GET') return undefined;
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const [v2, email, kind, name, sub] = parts;
  if (v2 !== 'v2' || email !== 'email') return undefined;
  const op = kind === 'account' ? 'GetAccount'
    : kind === 'identities' && name && !sub ? 'GetEmailIdentity'
      : kind === 'configuration-sets' && name && !sub ? 'GetConfigurationSet'
        : kind === 'configuration-sets' && name && sub === 'event-destinations' ? 'GetConfigurationSetEventDestinations'
          : undefined;
  if (!op) return undefined;
  s.calls.push(name ? `${op} ${name}` : op);
  if (s.state.deny.has(op)) return sesError(403, 'AccessDeniedException', `User: arn:aws:sts::${ACCOUNT_ID}:assumed-role/marketer-review/ci is not authorized to perform: ses:${op}`);
  switch (op) {
    case 'GetAccount':
      return json(s.state.account);
    case 'GetEmailIdentity': {
      const identity = s.state.identities[name!.toLowerCase()];
      return identity ? json(identity) : sesError(404, 'NotFoundException', `Email identity ${name} does not exist.`);
    }
    case 'GetConfigurationSet': {
      const set = s.state.configurationSets[name!];
      return set ? json({ ConfigurationSetName: name, ...set.set }) : sesError(404, 'NotFoundException', `Configuration set <${name}> does not exist.`);
    }
    default: {
      const set = s.state.configurationSets[name!];
      return set ? json({ EventDestinations: set.destinations }) : sesError(404, 'NotFoundException', `Configuration set <${name}> does not exist.`);
    }
  }
}

/**
 * SES's answer to a send from (or, in the sandbox, to) an identity it has not verified;
 * undefined lets the send through.
 */
function unverifiedIdentity(s: SesStandIn, text: string): Reply | undefined {
  const body = JSON.parse(text) as { FromEmailAddress?: string; Destination?: { ToAddresses?: string[] } };
  const bare = (a: string) => (/<([^<>]+)>/.exec(a)?.[1] ?? a).trim().toLowerCase();
  const verified = (address: string) => {
    const labels = address.slice(address.indexOf('@') + 1).split('.');
    const covering = [address, ...labels.slice(0, -1).map((_, i) => labels.slice(i).join('.'))];
    return covering.some((id) => s.state.identities[id]?.VerifiedForSendingStatus === true);
  };
  const failed = [
    ...(s.state.checkSenders ? [bare(String(body.FromEmailAddress ?? ''))] : []),
    ...(s.state.checkRecipients ? (body.Destination?.ToAddresses ?? []).map(bare) : []),
  ].filter((a) => !verified(a));
  if (failed.length === 0) return undefined;
  s.calls.push(`SendEmail rejected ${failed.join(', ')}`);
  return sesError(400, 'MessageRejected', `Email address is not verified. The following identities failed the check in region US-EAST-1: ${failed.join(', ')}`);
}

function sqs(s: SesStandIn, op: string, text: string): Reply {
  const body = JSON.parse(text || '{}') as { QueueUrl?: string; AttributeNames?: string[] };
  const name = (body.QueueUrl ?? '').split('/').pop() ?? '';
  s.calls.push(`${op} ${name}`);
  const err = (status: number, type: string, message: string): Reply => ({ status, contentType: 'application/x-amz-json-1.0', body: { __type: `com.amazonaws.sqs#${type}`, message } });
  if (s.state.deny.has(op)) return err(400, 'AccessDenied', `not authorized to perform: sqs:${op}`);
  if (op !== 'GetQueueAttributes') return err(400, 'InvalidAction', op);
  const attrs = s.state.queues[name];
  if (!attrs) return err(400, 'QueueDoesNotExist', 'The specified queue does not exist.');
  const wanted = body.AttributeNames ?? [];
  const picked = Object.fromEntries(Object.entries(attrs).filter(([k]) => wanted.includes('All') || wanted.includes(k)));
  return { status: 200, contentType: 'application/x-amz-json-1.0', body: { Attributes: picked } };
}

export const DKIM_TOKENS = ['abcdefghijklmnopqrstuvwxyz234567', 'bcdefghijklmnopqrstuvwxyz2345678', 'cdefghijklmnopqrstuvwxyz23456789'];
export const TOPIC_ARN = `arn:aws:sns:${REGION}:${ACCOUNT_ID}:marketer-ses-events`;
export const ALL_EVENTS = ['SEND', 'DELIVERY', 'BOUNCE', 'COMPLAINT', 'REJECT', 'RENDERING_FAILURE', 'OPEN', 'CLICK', 'SUBSCRIPTION', 'DELIVERY_DELAY'];

export function healthyAccount(): Record<string, unknown> {
  return {
    DedicatedIpAutoWarmupEnabled: false,
    EnforcementStatus: 'HEALTHY',
    ProductionAccessEnabled: true,
    SendingEnabled: true,
    SendQuota: { Max24HourSend: 50000, MaxSendRate: 14, SentLast24Hours: 1200 },
    SuppressionAttributes: { SuppressedReasons: ['BOUNCE', 'COMPLAINT'] },
  };
}

export function verifiedDomain(domain: string, mailFrom = `bounce.${domain}`): Record<string, unknown> {
  return {
    IdentityType: 'DOMAIN',
    FeedbackForwardingStatus: true,
    VerifiedForSendingStatus: true,
    VerificationStatus: 'SUCCESS',
    DkimAttributes: { SigningEnabled: true, Status: 'SUCCESS', Tokens: DKIM_TOKENS, SigningAttributesOrigin: 'AWS_SES', CurrentSigningKeyLength: 'RSA_2048_BIT' },
    MailFromAttributes: { MailFromDomain: mailFrom, MailFromDomainStatus: 'SUCCESS', BehaviorOnMxFailure: 'USE_DEFAULT_VALUE' },
    Policies: {},
    Tags: [],
  };
}

export function queuePolicy(queueName: string, topic = TOPIC_ARN): string {
  const arn = `arn:aws:sqs:${REGION}:${ACCOUNT_ID}:${queueName}`;
  return JSON.stringify({
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { Service: 'sns.amazonaws.com' }, Action: 'sqs:SendMessage', Resource: arn, Condition: { ArnEquals: { 'aws:SourceArn': topic } } }],
  });
}

/** An SES account, identities, configuration sets, queue and DNS zone where every doctor check passes. */
export function healthyWorld(domain = 'example.com'): { state: StandInState; zone: Zone } {
  const queue = 'ses-events';
  const state: StandInState = {
    account: healthyAccount(),
    identities: { [domain]: verifiedDomain(domain) },
    configurationSets: {
      marketing: { set: { SendingOptions: { SendingEnabled: true } }, destinations: [{ Name: 'to-sns', Enabled: true, MatchingEventTypes: ALL_EVENTS, SnsDestination: { TopicArn: TOPIC_ARN } }] },
    },
    queues: { [queue]: { QueueArn: `arn:aws:sqs:${REGION}:${ACCOUNT_ID}:${queue}`, Policy: queuePolicy(queue) } },
    deny: new Set(),
  };
  const zone: Zone = {
    [`bounce.${domain}`]: { TXT: ['v=spf1 include:amazonses.com ~all'], MX: [{ priority: 10, exchange: `feedback-smtp.${REGION}.amazonses.com` }] },
    [`_dmarc.${domain}`]: { TXT: [`v=DMARC1; p=quarantine; rua=mailto:dmarc@${domain}`] },
  };
  for (const t of DKIM_TOKENS) zone[`${t}._domainkey.${domain}`] = { CNAME: `${t}.dkim.amazonses.com` };
  return { state, zone };
}
