import { mkdir, rename, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Mailer, OutgoingMessage, SendOutcome, SendQuota } from './mailer.js';
import { buildMime } from './mime.js';

/**
 * Writes each message as `<dir>/<campaign>/<delivery>.eml` instead of sending it: the embedded
 * quickstart, and a way to inspect exactly what SES would receive. Same ledger, same code path.
 */
export class OutboxMailer implements Mailer {
  readonly name = 'outbox';
  private readonly made = new Set<string>();

  constructor(private readonly dir: string, private readonly clock: () => Date = () => new Date()) {}

  async send(m: OutgoingMessage): Promise<SendOutcome> {
    const messageId = `${randomUUID()}@outbox.marketer`;
    const folder = path.join(this.dir, String(m.campaignId));
    try {
      if (!this.made.has(folder)) {
        await mkdir(folder, { recursive: true });
        this.made.add(folder);
      }
      const eml = buildMime({
        ...m,
        headers: [...m.headers, { name: 'X-Marketer-Campaign', value: String(m.campaignId) }, { name: 'X-Marketer-Delivery', value: m.deliveryId }],
        messageId,
        date: this.clock(),
      });
      const file = path.join(folder, `${m.deliveryId}.eml`);
      // Write then rename, so a crash never leaves half a message that looks sent.
      await writeFile(`${file}.tmp`, eml);
      await rename(`${file}.tmp`, file);
      return { kind: 'sent', messageId };
    } catch (err) {
      return { kind: 'failed', error: `outbox: ${(err as Error).message}` };
    }
  }

  async quota(): Promise<SendQuota | undefined> {
    return undefined;
  }

  async close(): Promise<void> {}
}
