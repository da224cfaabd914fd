// The ceiling for bench/send: SendEmail of one rendered message in a bare loop (p-limit at the
// same concurrency, the same endpoint), as its own process so that its CPU time is its own.
//   node bench/sdk-loop.mjs <endpoint> <count> <concurrency> <stock|marketer> <message.json>
// `stock` is the SDK with default settings; `marketer` adds the client settings marketer sends
// with (dist/sending/ses-client-settings.js). Prints one JSON line: calls, ms, cpuMs (the loop only).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import pLimit from 'p-limit';

const [endpoint, count, concurrency, mode, messageFile] = process.argv.slice(2);
const n = Number(count);
const c = Number(concurrency);
const msg = JSON.parse(readFileSync(messageFile, 'utf8'));
const extra = mode === 'marketer' ? (await import('../dist/sending/ses-client-settings.js')).fastSendSettings() : {};
const client = new SESv2Client({
  region: 'us-east-1', endpoint, maxAttempts: 1, credentials: { accessKeyId: 'AKIDBENCH', secretAccessKey: 'bench' },
  requestHandler: new NodeHttpHandler({ httpAgent: new http.Agent({ keepAlive: true, maxSockets: c }) }),
  ...extra,
});
const limit = pLimit(c);
const t0 = performance.now();
const cpu0 = process.cpuUsage();
await Promise.all(Array.from({ length: n }, (_, i) => limit(() => client.send(new SendEmailCommand({
  FromEmailAddress: msg.from, Destination: { ToAddresses: [`user${i}@example.com`] },
  Content: { Simple: { Subject: { Data: msg.subject, Charset: 'UTF-8' }, Body: { Html: { Data: msg.html, Charset: 'UTF-8' }, Text: { Data: msg.text, Charset: 'UTF-8' } }, Headers: msg.headers.map((h) => ({ Name: h.name, Value: h.value })) } },
  EmailTags: [{ Name: 'campaign', Value: '42' }, { Name: 'delivery', Value: String(i) }],
})))));
const cpu = process.cpuUsage(cpu0);
const ms = performance.now() - t0;
client.destroy();
console.log(JSON.stringify({ calls: n, ms, cpuMs: (cpu.user + cpu.system) / 1000 }));
