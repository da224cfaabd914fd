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
