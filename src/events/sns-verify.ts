import { createVerify, X509Certificate } from 'node:crypto';

/**
 * Verifying SNS HTTP(S) deliveries: anyone can POST to /sns, so a message counts only if it is
 * signed by a certificate SNS serves from its own host. SignatureVersion 1 is SHA1withRSA,
 * 2 is SHA256withRSA, over the documented "Key\nValue\n" string of the message's fields.
 */

export type SnsType = 'Notification' | 'SubscriptionConfirmation' | 'UnsubscribeConfirmation';

export interface SnsMessage {
  Type: SnsType;
  MessageId: string;
  TopicArn: string;
  Subject: string | undefined;
  Message: string;
  Timestamp: string;
  SignatureVersion: '1' | '2';
  Signature: string;
  SigningCertURL: string;
  SubscribeURL: string | undefined;
  Token: string | undefined;
}

export class SnsVerifyError extends Error {
  override readonly name = 'SnsVerifyError';
}

/** Fetches a PEM certificate; production uses `httpsCertFetcher`, tests inject their own. */
export type CertFetcher = (url: string) => Promise<string>;

// sns.<region>.amazonaws.com exactly, the region spelled as AWS spells them (us-east-1,
// us-gov-west-1, cn-north-1). A looser pattern also admits sns.s3.amazonaws.com or
// sns.s3-eu-west-1.amazonaws.com, which are S3 buckets named "sns": anyone's certificate.
const SNS_HOST = /^sns\.[a-z]{2}(?:-[a-z]+)+-\d{1,2}\.amazonaws\.com(?:\.cn)?$/;

/** Only https://sns.<region>.amazonaws.com/….pem can sign: a forged message names its own cert. */
export function isSnsCertUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && SNS_HOST.test(u.hostname) && u.port === '' && u.pathname.endsWith('.pem') && !u.username && !u.password;
  } catch {
    return false;
  }
}

/** SubscribeURL must point at SNS too, or confirming would make us fetch anything we are sent. */
export function isSnsUrl(url: string): boolean {
  try {
    const u = new URL(url);
    return u.protocol === 'https:' && SNS_HOST.test(u.hostname) && u.port === '';
  } catch {
    return false;
  }
}

const req = (o: Record<string, unknown>, k: string): string => {
  const v = o[k];
  if (typeof v !== 'string' || v === '') throw new SnsVerifyError(`SNS message has no ${k}`);
  return v;
};
const opt = (o: Record<string, unknown>, k: string): string | undefined => (typeof o[k] === 'string' ? (o[k] as string) : undefined);

/** The message's fields, typed; throws SnsVerifyError on anything that is not an SNS message. */
export function readSnsMessage(body: unknown): SnsMessage {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new SnsVerifyError('not an SNS message (expected a JSON object)');
  const o = body as Record<string, unknown>;
  const type = req(o, 'Type');
  if (type !== 'Notification' && type !== 'SubscriptionConfirmation' && type !== 'UnsubscribeConfirmation') throw new SnsVerifyError(`unknown SNS message type ${JSON.stringify(type)}`);
  const version = req(o, 'SignatureVersion');
  if (version !== '1' && version !== '2') throw new SnsVerifyError(`unsupported SignatureVersion ${JSON.stringify(version)}`);
  const m: SnsMessage = {
    Type: type,
    MessageId: req(o, 'MessageId'),
    TopicArn: req(o, 'TopicArn'),
    Subject: opt(o, 'Subject'),
    Message: req(o, 'Message'),
    Timestamp: req(o, 'Timestamp'),
    SignatureVersion: version,
    Signature: req(o, 'Signature'),
    SigningCertURL: req(o, 'SigningCertURL'),
    SubscribeURL: opt(o, 'SubscribeURL'),
    Token: opt(o, 'Token'),
  };
  if (type !== 'Notification' && (!m.SubscribeURL || !m.Token)) throw new SnsVerifyError(`${type} without SubscribeURL and Token`);
  return m;
}

/** The exact string SNS signs, per message type (fields in this order, Subject only if present). */
export function stringToSign(m: SnsMessage): string {
  const keys: (keyof SnsMessage)[] =
    m.Type === 'Notification'
      ? ['Message', 'MessageId', ...(m.Subject !== undefined ? (['Subject'] as const) : []), 'Timestamp', 'TopicArn', 'Type']
      : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  return keys.map((k) => `${k}\n${m[k] ?? ''}\n`).join('');
}

/** Verify a parsed POST body; returns the typed message or throws SnsVerifyError. */
export async function verifySnsMessage(body: unknown, fetchCert: CertFetcher): Promise<SnsMessage> {
  const m = readSnsMessage(body);
  if (!isSnsCertUrl(m.SigningCertURL)) throw new SnsVerifyError('SigningCertURL is not an SNS certificate URL (https://sns.<region>.amazonaws.com/….pem)');
  let publicKey;
  try {
    publicKey = new X509Certificate(await fetchCert(m.SigningCertURL)).publicKey;
  } catch (err) {
    throw new SnsVerifyError(`cannot load the signing certificate: ${(err as Error).message}`);
  }
  const verifier = createVerify(m.SignatureVersion === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
  verifier.update(stringToSign(m), 'utf8');
  if (!verifier.verify(publicKey, m.Signature, 'base64')) throw new SnsVerifyError('signature does not match');
  return m;
}

/** Fetch certificates over https from SNS hosts only, each once per process. */
export function httpsCertFetcher(timeoutMs = 5000): CertFetcher {
  const cache = new Map<string, Promise<string>>();
  return (url) => {
    if (!isSnsCertUrl(url)) return Promise.reject(new SnsVerifyError('refusing to fetch a certificate from outside SNS'));
    let p = cache.get(url);
    if (!p) {
      p = fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' }).then(async (r) => {
        if (!r.ok) throw new Error(`HTTP ${r.status} from ${url}`);
        return r.text();
      });
      // A failed fetch is not cached: the next message tries again.
      p.catch(() => cache.delete(url));
      cache.set(url, p);
    }
    return p;
  };
}

/** Confirm a subscription by visiting its SubscribeURL (only on an SNS host). */
export async function confirmSubscription(url: string, timeoutMs = 5000): Promise<void> {
  if (!isSnsUrl(url)) throw new SnsVerifyError('SubscribeURL is not on an SNS host');
  const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
  if (!r.ok) throw new Error(`SNS answered HTTP ${r.status} to the subscription confirmation`);
}
