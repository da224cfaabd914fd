import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { sqsClientFor } from '../events/sqs-source.js';
import { describeAwsError } from '../sending/aws-error.js';
import type { QueueAttributes, QueueReader } from './queue-check.js';

/** GetQueueAttributes (QueueArn, Policy) through the same client `events pull` uses. */
export function sqsQueueReader(region: string | undefined): QueueReader {
  return async (queueUrl: string): Promise<QueueAttributes | undefined> => {
    const client = sqsClientFor(queueUrl, region);
    try {
      const out = await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn', 'Policy'] }));
      return { arn: out.Attributes?.QueueArn, policy: out.Attributes?.Policy };
    } catch (err) {
      if (describeAwsError(err).kind === 'not-found') return undefined;
      throw err;
    } finally {
      client.destroy();
    }
  };
}
