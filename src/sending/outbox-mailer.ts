import { mkdir, rename, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { Mailer, OutgoingMessage, SendOutcome, SendQuota } from './mailer.js';
import { buildMime } from './mime.js';

/** Messages hold personal data: only the owner may read them. */
const FILE_MODE = 0o600;
const FOLDER_MODE = 0o700;

/**
 * Writes each message as `<dir>/<campaign>/<delivery>-<message id>.eml` instead of sending it:
 * the embedded quickstart, and a way to inspect exactly what SES would receive. Same ledger,
 * same code path. The message id makes every file new: another database, or a ledger started
 * over, has the same campaign and delivery ids, and must not overwrite what was written before.
 */
export class OutboxMailer implements Mailer {
  readonly name = 'outbox';
  private readonly made = new Set<string>();

  constructor(private readonly dir: string, private readonly clock: () => Date = () => new Date()) {}

  async send(m: OutgoingMessage): Promise<SendOutcome> {
    const id = randomUUID();
    const messageId = `${id}@outbox.marketer`;
    const folder = path.join(this.dir, String(m.campaignId));
    try {
      if (!this.made.has(folder)) {
        // Folders made here are 0700; a folder that exists keeps the mode its owner gave it.
        await mkdir(folder, { recursive: true, mode: FOLDER_MODE });
        this.made.add(folder);
      }
      const eml = buildMime({
        ...m,
        headers: [
          ...m.headers, { name: 'X-Marketer-Campaign', value: String(m.campaignId) }, { name: 'X-Marketer-Delivery', value: m.deliveryId },
          ...m.tags.filter((t) => t.name === 'variant').map((t) => ({ name: 'X-Marketer-Variant', value: t.value })),
        ],
        messageId,
        date: this.clock(),
      });
      const file = path.join(folder, `${m.deliveryId}-${id}.eml`);
      // Write then rename, so a crash never leaves half a message that looks sent; `wx` because
      // the name is new, so something already there is not ours to replace.
      await writeFile(`${file}.tmp`, eml, { mode: FILE_MODE, flag: 'wx' });
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
