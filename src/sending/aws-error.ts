/**
 * AWS SDK errors as one line a user can act on. The SDK's own message for an answer it cannot
 * parse (a proxy's HTML page, an emulator without the call) ends in "Deserialization error: to
 * see the raw response, inspect the hidden field {error}.$response on this object.", which is
 * advice for the SDK's debugger, not for someone running a command.
 */
interface SdkError {
  name?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $response?: { statusCode?: number };
}

export type AwsErrorKind = 'not-found' | 'access-denied' | 'not-aws' | 'other';

export interface AwsErrorInfo {
  kind: AwsErrorKind;
  /** e.g. "AccessDeniedException (HTTP 403): User … is not authorized to perform ses:GetAccount". */
  line: string;
  status: number | undefined;
}

const NOT_FOUND = new Set(['NotFoundException', 'QueueDoesNotExist', 'AWS.SimpleQueueService.NonExistentQueue', 'ConfigurationSetDoesNotExistException']);
const DENIED = new Set(['AccessDeniedException', 'AccessDenied', 'UnrecognizedClientException', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'ExpiredTokenException', 'ExpiredToken']);

export function describeAwsError(err: unknown): AwsErrorInfo {
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkError;
  const status = e.$metadata?.httpStatusCode ?? e.$response?.statusCode;
  const raw = e.message ?? String(err);
  const unparsable = /Deserialization error/i.test(raw);
  const message = raw.replace(/\s*Deserialization error:[\s\S]*$/i, '').replace(/\s+/g, ' ').trim().slice(0, 300);
  const name = e.name && e.name !== 'Error' ? e.name : undefined;
  if (unparsable || name === 'Unknown' || name === 'UnknownError') {
    return { kind: 'not-aws', status, line: `the endpoint answered${status ? ` HTTP ${status}` : ''} with something that is not an AWS response (${message || 'empty body'})` };
  }
  const kind: AwsErrorKind = NOT_FOUND.has(name ?? '') ? 'not-found' : DENIED.has(name ?? '') || status === 403 ? 'access-denied' : 'other';
  const head = [name, status ? `(HTTP ${status})` : undefined].filter(Boolean).join(' ');
  return { kind, status, line: head ? `${head}: ${message}` : message };
}

/**
 * SES answers a send from an unverified identity with MessageRejected naming the identities that
 * failed ("Email address is not verified. The following identities failed the check in region
 * US-EAST-1: news@example.com"). When the From address or its domain is among them, every other
 * message of the run would fail the same way: the caller stops instead of failing each recipient.
 * In the sandbox the list names unverified recipients too; those stay per-recipient failures.
 */
export function unverifiedSenderError(err: unknown, fromAddress: string): string | undefined {
  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkError;
  if (e.name !== 'MessageRejected') return undefined;
  const m = /failed the check in region [A-Za-z0-9-]+:\s*(.+)$/.exec((e.message ?? '').trim());
  if (!m) return undefined;
  const address = fromAddress.toLowerCase();
  const domain = address.slice(address.lastIndexOf('@') + 1);
  const failed = m[1]!.split(',').map((s) => (/<([^<>]+)>/.exec(s)?.[1] ?? s).trim().toLowerCase());
  if (!failed.some((id) => id === address || id === domain)) return undefined;
  return `the From address ${address} is not verified in SES (${describeAwsError(err).line}); marketer doctor shows what is missing`;
}
