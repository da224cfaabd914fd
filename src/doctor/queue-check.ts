import { describeAwsError } from '../sending/aws-error.js';
import { readFailureFix } from './account-checks.js';
import type { DoctorCheck } from './types.js';

export interface QueueAttributes {
  arn: string | undefined;
  policy: string | undefined;
}

/** GetQueueAttributes; undefined when the queue does not exist. */
export type QueueReader = (queueUrl: string) => Promise<QueueAttributes | undefined>;

interface Statement {
  Effect?: string;
  Principal?: unknown;
  Action?: string | string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

/**
 * sqs.queue: the queue exists and its policy lets SNS deliver from every topic the configuration
 * sets publish to. (Whether the topic has the queue subscribed is SNS's side: not visible here.)
 */
export async function queueCheck(o: { queueUrl: string | undefined; snsTopicArns: string[] | undefined; topics: string[]; read: QueueReader }): Promise<DoctorCheck> {
  const id = 'sqs.queue';
  if (!o.queueUrl) {
    if (o.snsTopicArns?.length) return { id, status: 'ok', detail: `no sqs_queue_url: events arrive at marketer serve (/sns) from ${o.snsTopicArns.join(', ')}`, fix: '' };
    return { id, status: 'warn', detail: 'no sqs_queue_url: events reach marketer only through marketer serve (/sns) or files', fix: 'create the SNS topic and SQS queue (docs/aws-setup.md) and set sqs_queue_url in marketer.yaml' };
  }
  let attrs: QueueAttributes | undefined;
  try {
    attrs = await o.read(o.queueUrl);
  } catch (err) {
    const e = describeAwsError(err);
    if (e.kind === 'not-found') attrs = undefined;
    else return { id, status: 'error', detail: `could not read the queue ${o.queueUrl} (GetQueueAttributes): ${e.line}`, fix: readFailureFix(e.kind, 'sqs:GetQueueAttributes') };
  }
  if (!attrs) return { id, status: 'error', detail: `the queue ${o.queueUrl} does not exist`, fix: 'create it (docs/aws-setup.md) or correct sqs_queue_url' };
  const arn = attrs.arn ?? 'QUEUE_ARN';
  const policyFix = (topic: string) => `aws sqs set-queue-attributes --queue-url ${o.queueUrl} --attributes Policy='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"${arn}","Condition":{"ArnEquals":{"aws:SourceArn":"${topic}"}}}]}'`;
  const topicsText = o.topics.length > 0 ? o.topics : ['TOPIC_ARN'];
  if (!attrs.policy) return { id, status: 'error', detail: 'the queue has no access policy: SNS cannot deliver events to it', fix: policyFix(topicsText.join('","')) };
  let statements: Statement[];
  try {
    const doc = JSON.parse(attrs.policy) as { Statement?: Statement | Statement[] };
    statements = Array.isArray(doc.Statement) ? doc.Statement : doc.Statement ? [doc.Statement] : [];
  } catch {
    return { id, status: 'error', detail: 'the queue policy is not JSON', fix: policyFix(topicsText.join('","')) };
  }
  const sns = statements.filter(allowsSns);
  if (sns.length === 0) return { id, status: 'error', detail: 'the queue policy does not let sns.amazonaws.com send messages', fix: policyFix(topicsText.join('","')) };
  const refused = o.topics.filter((t) => !sns.some((s) => admitsTopic(s, t)));
  if (refused.length > 0) {
    return { id, status: 'error', detail: `the queue policy does not admit the topic${refused.length === 1 ? '' : 's'} ${refused.join(', ')} that the configuration set publishes to`, fix: policyFix(refused.join('","')) };
  }
  const open = sns.some((s) => sourceArns(s) === undefined);
  if (open) return { id, status: 'warn', detail: 'the queue policy lets any SNS topic deliver (no aws:SourceArn condition)', fix: policyFix(topicsText.join('","')) };
  return { id, status: 'ok', detail: o.topics.length > 0 ? `the queue exists and admits ${o.topics.join(', ')}` : 'the queue exists and admits SNS', fix: '' };
}

function allowsSns(s: Statement): boolean {
  if (s.Effect !== 'Allow') return false;
  const principal = s.Principal;
  const services = (p: unknown): string[] => (typeof p === 'string' ? [p] : Array.isArray(p) ? p.map(String) : []);
  const fromSns = principal === '*'
    || (typeof principal === 'object' && principal !== null && (
      services((principal as { Service?: unknown }).Service).includes('sns.amazonaws.com') || services((principal as { AWS?: unknown }).AWS).includes('*')));
  const actions = Array.isArray(s.Action) ? s.Action : s.Action ? [s.Action] : [];
  return fromSns && actions.some((a) => ['sqs:sendmessage', 'sqs:*', '*'].includes(a.toLowerCase()));
}

function sourceArns(s: Statement): string[] | undefined {
  for (const [op, conds] of Object.entries(s.Condition ?? {})) {
    if (!/^Arn(Equals|Like)$|^String(Equals|Like)$/.test(op)) continue;
    for (const [key, value] of Object.entries(conds)) {
      if (key.toLowerCase() === 'aws:sourcearn') return Array.isArray(value) ? value : [value];
    }
  }
  return undefined;
}

function admitsTopic(s: Statement, topic: string): boolean {
  const arns = sourceArns(s);
  if (!arns) return true;
  return arns.some((a) => new RegExp(`^${a.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(topic));
}
