import type { SESv2Client, SendEmailCommandInput } from '@aws-sdk/client-sesv2';
import { describeAwsError, unverifiedSenderError } from './aws-error.js';
import { loadSesSdk, type SesSdk } from './ses-sdk.js';
import { mailboxValue, refuseLineBreak, subjectValue } from './headers/header-fields.js';
import { bareAddress } from './sender-domains.js';
import type { Mailer, OutgoingMessage, SendOutcome, SendQuota } from './mailer.js';
import { loadPackage } from '../load-package.js';

export interface SesMailerOptions {
  region: string | undefined;
  endpoint: string | undefined;
  configurationSet: string | undefined;
  /** For transactional messages; undefined = configurationSet. */
  transactionalConfigurationSet?: string | undefined;
  /** Sockets kept open to SES; match the send concurrency. */
  maxSockets: number;
  requestTimeoutMs?: number;
}

// Names from the SESv2 API reference. Everything here is an answer from SES, so the mail was
// not accepted; the split is whether trying again can help.
const THROTTLED = new Set(['TooManyRequestsException', 'LimitExceededException', 'ThrottlingException']);
const FATAL = new Set([
  'SendingPausedException', 'AccountSendingPausedException', 'AccountSuspendedException', 'MailFromDomainNotVerifiedException',
  // The account or its setup, not the recipient: every other message would fail the same way.
  'NotFoundException', 'ConfigurationSetDoesNotExistException', 'AccessDeniedException',
  'UnrecognizedClientException', 'InvalidClientTokenId', 'ExpiredTokenException', 'ExpiredToken', 'SignatureDoesNotMatch',
  // Raised before any request is made: no credentials could be found.
  'CredentialsProviderError',
]);
// Socket errors before a request could have been read by SES.
const NOT_SENT_ERRNOS = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

interface SdkError {
  name?: string;
  code?: string;
  message?: string;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number };
}

/** Sort an SDK error into a SendOutcome (see mailer.ts for why each matters). */
export function classifySesError(err: unknown): SendOutcome {
  const e = (err ?? {}) as SdkError;
  const name = e.name ?? 'Error';
  const status = e.$metadata?.httpStatusCode;
  const error = describeAwsError(err).line.slice(0, 500);
  if (THROTTLED.has(name) || status === 429) return { kind: 'retry', error, throttled: true };
  if (FATAL.has(name) || status === 401 || status === 403) return { kind: 'fatal', error };
  if (status !== undefined && status >= 500) return { kind: 'retry', error, throttled: false };
  if (status !== undefined && status >= 400) return { kind: 'failed', error };
  if (NOT_SENT_ERRNOS.has(e.code ?? '') || NOT_SENT_ERRNOS.has(name)) return { kind: 'retry', error, throttled: false };
  // The connection was never established, so no request reached SES.
  if (/did not establish a connection|connect ETIMEDOUT|ECONNREFUSED/i.test(e.message ?? '')) return { kind: 'retry', error, throttled: false };
  // No answer from SES (timeout, reset, aborted): the request may have been accepted.
  return { kind: 'unknown', error };
}

/**
 * The SendEmail request for one message. SES builds the headers itself from these fields: it
 * wants a non-ASCII display name already as RFC 2047 encoded-words, and it encodes a non-ASCII
 * subject on its own (so only an ASCII subject that reads as encoded-words is encoded here).
 * Throws HeaderError on a value that cannot go into a header.
 */
export function sendEmailInput(m: OutgoingMessage, options: Pick<SesMailerOptions, 'configurationSet' | 'transactionalConfigurationSet'>): SendEmailCommandInput {
  return {
    FromEmailAddress: mailboxValue(m.from),
    Destination: { ToAddresses: [m.to] },
    ReplyToAddresses: m.replyTo.length > 0 ? m.replyTo.map(mailboxValue) : undefined,
    Content: {
      Simple: {
        Subject: { Data: subjectValue(m.subject), Charset: 'UTF-8' },
        Body: { Html: { Data: m.html, Charset: 'UTF-8' }, Text: { Data: m.text, Charset: 'UTF-8' } },
        Headers: m.headers.length > 0 ? m.headers.map(sesHeader) : undefined,
      },
    },
    EmailTags: m.tags.map((t) => ({ Name: t.name, Value: t.value })),
    ConfigurationSetName: (m.transactional ? options.transactionalConfigurationSet : undefined) ?? options.configurationSet,
    ListManagementOptions: m.listManagement
      ? { ContactListName: m.listManagement.contactListName, TopicName: m.listManagement.topicName }
      : undefined,
  };
}

function sesHeader(h: { name: string; value: string }): { Name: string; Value: string } {
  refuseLineBreak(h.name, h.value);
  return { Name: h.name, Value: h.value };
}

export class SesMailer implements Mailer {
  readonly name = 'ses';
  /** Made at the first request (see ses-sdk.ts). */
  private client: Promise<{ client: SESv2Client; sdk: SesSdk }> | undefined;

  constructor(private readonly options: SesMailerOptions) {}

  private connect(): Promise<{ client: SESv2Client; sdk: SesSdk }> {
    return (this.client ??= this.makeClient());
  }

  private async makeClient(): Promise<{ client: SESv2Client; sdk: SesSdk }> {
    const [{ sdk, NodeHttpHandler }, { fastSendSettings }, http, https] = await Promise.all([
      loadSesSdk(), import('./ses-client-settings.js'), loadPackage<typeof import('node:http')>('node:http'), loadPackage<typeof import('node:https')>('node:https'),
    ]);
    const options = this.options;
    // An idle keep-alive socket is closed here after 3 s (or 1 s before the server's
    // Keep-Alive: timeout hint, whichever is sooner; Node honours the hint only when a timeout is
    // set). Reusing a socket the server has just closed ends in ECONNRESET, which cannot prove
    // the mail was not accepted, so the delivery would become `unknown`: sends that pause for a
    // backoff longer than the server's idle timeout hit exactly that.
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, timeout: 3_000 };
    const client = new sdk.SESv2Client({
      region: options.region ?? 'us-east-1',
      endpoint: options.endpoint,
      // SES has no idempotency key and the SDK would retry timeouts by itself, risking a
      // second copy of a mail that was accepted. marketer retries only what proves non-delivery.
      maxAttempts: 1,
      ...fastSendSettings(),
      requestHandler: new NodeHttpHandler({
        connectionTimeout: 5_000,
        requestTimeout: options.requestTimeoutMs ?? 30_000,
        // Without this the handler only logs a warning and the request waits forever; a
        // timeout must surface so the row can be marked `unknown`.
        throwOnRequestTimeout: true,
        httpAgent: new http.Agent(agentOptions),
        httpsAgent: new https.Agent(agentOptions),
      }),
    });
    return { client, sdk };
  }

  async send(m: OutgoingMessage): Promise<SendOutcome> {
    let input: SendEmailCommandInput;
    try {
      input = sendEmailInput(m, this.options);
    } catch (err) {
      return { kind: 'failed', error: (err as Error).message };
    }
    const { client, sdk } = await this.connect();
    try {
      const out = await client.send(new sdk.SendEmailCommand(input));
      if (!out.MessageId) return { kind: 'unknown', error: 'SES answered without a MessageId' };
      return { kind: 'sent', messageId: out.MessageId };
    } catch (err) {
      const sender = unverifiedSenderError(err, bareAddress(m.from));
      return sender ? { kind: 'fatal', error: sender } : classifySesError(err);
    }
  }

  async quota(): Promise<SendQuota | undefined> {
    const { client, sdk } = await this.connect();
    const out = await client.send(new sdk.GetAccountCommand({}));
    const q = out.SendQuota;
    return {
      max24HourSend: q?.Max24HourSend ?? -1,
      sentLast24Hours: q?.SentLast24Hours ?? 0,
      maxSendRate: q?.MaxSendRate ?? 1,
      productionAccess: out.ProductionAccessEnabled ?? false,
      sendingEnabled: out.SendingEnabled ?? true,
      enforcementStatus: out.EnforcementStatus,
    };
  }

  async close(): Promise<void> {
    // A client never made has nothing to close.
    await this.client?.then(({ client }) => client.destroy(), () => {});
  }
}
