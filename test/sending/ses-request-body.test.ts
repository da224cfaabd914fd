import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OutgoingMessage } from '../../src/sending/mailer.js';
import { SesMailer, sendEmailInput } from '../../src/sending/ses-mailer.js';
import { startSesEmulator, startSesProxy, type SesEmulator, type SesProxy } from '../helpers/ses.js';

// Everything JSON has to escape or encode: quotes, backslashes, control characters, line and
// paragraph separators, non-ASCII, astral characters and a lone surrogate.
const TRICKY = 'Grüße "quoted" \\ back\\slash \u0001\u001f tab\t nl\n cr\r \u2028\u2029 ✓ 😀 日本語 \ud800 </script>';

function message(to: string): OutgoingMessage {
  return {
    to,
    from: 'Zoë Example <news@example.com>',
    replyTo: ['reply@example.com'],
    subject: 'Neuigkeiten: Grüße 😀 "quoted" \\',
    html: `<!doctype html><html><body><p>${TRICKY}</p>${'<td style="padding:0">x</td>'.repeat(800)}</body></html>`,
    text: `Text ${TRICKY}`,
    headers: [{ name: 'List-Unsubscribe', value: '<https://mail.example.com/u/abc>' }, { name: 'List-Unsubscribe-Post', value: 'List-Unsubscribe=One-Click' }],
    tags: [{ name: 'campaign', value: '7' }, { name: 'delivery', value: '123' }],
    listManagement: undefined,
    deliveryId: '123',
    campaignId: 7,
  };
}

let ses: SesEmulator;
let proxy: SesProxy;
beforeAll(async () => {
  ses = await startSesEmulator();
  proxy = await startSesProxy(ses.endpoint);
  process.env.AWS_ACCESS_KEY_ID = 'AKIDLOCAL';
  process.env.AWS_SECRET_ACCESS_KEY = 'local-secret';
}, 90_000);
afterAll(async () => {
  await proxy?.stop();
  await ses?.stop();
});

describe('the SendEmail request marketer makes', () => {
  it('is the same JSON the SDK would write by default, and SES stores the content unchanged', async () => {
    const mailer = new SesMailer({ region: 'us-east-1', endpoint: proxy.endpoint, configurationSet: 'marketing', maxSockets: 2 });
    const sent = await mailer.send(message('ada@example.com'));
    await mailer.close();
    expect(sent.kind).toBe('sent');

    // The same input through a client with the SDK's default settings.
    const stock = new SESv2Client({ region: 'us-east-1', endpoint: proxy.endpoint, maxAttempts: 1 });
    await stock.send(new SendEmailCommand(sendEmailInput(message('ada@example.com'), { configurationSet: 'marketing' })));
    stock.destroy();

    expect(proxy.requests).toHaveLength(2);
    expect(proxy.requests[0]).toEqual(proxy.requests[1]);
    expect(proxy.requests[0]!.EmailTags).toEqual([{ Name: 'campaign', Value: '7' }, { Name: 'delivery', Value: '123' }]);

    const stored = await ses.store();
    const m = message('ada@example.com');
    expect(stored).toHaveLength(2);
    for (const s of stored) {
      expect(s.body.html).toBe(m.html);
      expect(s.body.text).toBe(m.text);
      expect(s.destination.to).toEqual(['ada@example.com']);
    }
  });

  it('keeps the names of the errors SES answers with, which decide whether a run stops or retries', async () => {
    const mailer = new SesMailer({ region: 'us-east-1', endpoint: proxy.endpoint, configurationSet: undefined, maxSockets: 2 });
    try {
      proxy.faults = { rejectAll: 'SendingPausedException' };
      const paused = await mailer.send(message('bob@example.com'));
      expect(paused).toMatchObject({ kind: 'fatal' });
      expect(paused.kind === 'fatal' && paused.error).toMatch(/SendingPausedException/);

      proxy.faults = { rejectAll: 'MessageRejected' };
      const rejected = await mailer.send(message('bob@example.com'));
      expect(rejected).toMatchObject({ kind: 'failed' });
      expect(rejected.kind === 'failed' && rejected.error).toMatch(/MessageRejected/);

      proxy.faults = { throttleFirst: 1 };
      expect(await mailer.send(message('bob@example.com'))).toMatchObject({ kind: 'retry', throttled: true });
    } finally {
      proxy.faults = {};
      await mailer.close();
    }
  });
});
