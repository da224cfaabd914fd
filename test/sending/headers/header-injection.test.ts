import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { OutgoingMessage } from '../../../src/sending/mailer.js';
import { OutboxMailer } from '../../../src/sending/outbox-mailer.js';
import { SesMailer } from '../../../src/sending/ses-mailer.js';

const dir = mkdtempSync(path.join(tmpdir(), 'marketer-injection-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const message = (o: Partial<OutgoingMessage>): OutgoingMessage => ({
  to: 'ada@example.com', from: 'News <news@example.com>', replyTo: [], subject: 'Hello', html: '<p>Hi</p>', text: 'Hi',
  headers: [], tags: [], listManagement: undefined, deliveryId: '1', campaignId: 7, ...o,
});

const INJECTIONS: Record<string, Partial<OutgoingMessage>> = {
  subject: { subject: 'Hello\r\nBcc: victim@example.com' },
  'non-ASCII subject': { subject: 'Grüße\nBcc: victim@example.com' },
  'display name': { from: '"News\r\nBcc: victim@example.com" <news@example.com>' },
  'reply-to': { replyTo: ['desk@example.com\r\nBcc: victim@example.com'] },
  'extra header': { headers: [{ name: 'List-Unsubscribe', value: '<https://example.com/u>\r\nBcc: victim@example.com' }] },
};

describe('CR/LF never reaches a header', () => {
  it('the outbox records the message as failed and writes no file', async () => {
    const mailer = new OutboxMailer(dir);
    for (const [label, o] of Object.entries(INJECTIONS)) {
      const outcome = await mailer.send(message(o));
      expect(outcome, label).toMatchObject({ kind: 'failed', error: expect.stringMatching(/line break/) });
    }
    expect(readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith('.eml'))).toEqual([]);
    expect(await mailer.send(message({}))).toMatchObject({ kind: 'sent' });
  });

  it('SES is never asked: the send fails before a request is made', async () => {
    // Nothing listens on port 9: a request that went out would come back as a retry, not a failure.
    const mailer = new SesMailer({ region: 'us-east-1', endpoint: 'http://127.0.0.1:9', configurationSet: undefined, maxSockets: 1 });
    try {
      for (const [label, o] of Object.entries(INJECTIONS)) {
        const outcome = await mailer.send(message(o));
        expect(outcome, label).toMatchObject({ kind: 'failed', error: expect.stringMatching(/line break/) });
      }
    } finally {
      await mailer.close();
    }
  });
});
