import chalk from 'chalk';
import type { Command } from 'commander';
import { inputError } from '../../errors.js';
import { exportSubscriber, type SubscriberExport } from '../../subscribers/export-subscriber.js';
import { forgetAddresses } from '../../subscribers/forget-subscriber.js';
import { readAddressList } from '../../subscribers/read-address-list.js';
import { unsubscribeAddresses } from '../../subscribers/unsubscribe-addresses.js';
import { commandContext, withDatabase, type CommandContext } from '../context.js';
import { table } from '../output.js';
import { byCount, formatNumber, plural } from '../format.js';

const when = (iso: string | null) => (iso === null ? '–' : iso.replace('T', ' ').replace(/\.\d{3}Z$/, 'Z'));

function printSummary(ctx: CommandContext, doc: SubscriberExport, full: boolean): void {
  const out = (l = '') => ctx.out.info(l);
  const s = doc.subscriber;
  if (!s) out(`${chalk.bold(doc.address)}: no subscriber with this address${doc.suppression ? '' : ', and it is not suppressed'}.`);
  else {
    out(`${chalk.bold(s.email)} ${chalk.dim(`(subscriber ${s.id}, ${s.status})`)}`);
    out(table([
      ['name', [s.first_name, s.last_name].filter(Boolean).join(' ') || '–'],
      ['time zone', s.timezone],
      ['tags', s.tags.join(', ') || '–'],
      ['attributes', Object.keys(s.attributes).length > 0 ? JSON.stringify(s.attributes) : '–'],
      ['consent', [s.consent.source, when(s.consent.at), s.consent.ip, s.consent.text].filter((v) => v && v !== '–').join(' · ') || '–'],
      ['added', when(s.created_at)],
      ['updated', when(s.updated_at)],
    ]));
  }
  if (doc.suppression) out(`Suppressed since ${when(doc.suppression.since)}: ${doc.suppression.reason}${doc.suppression.detail ? ` (${doc.suppression.detail})` : ''}.`);
  out(`${plural(doc.deliveries.length, 'delivery')}, ${plural(doc.events.length, 'event')}.`);
  if (!full) return;
  if (doc.deliveries.length > 0) {
    out();
    out(table([
      ['campaign', 'status', 'due', 'sent', 'delivered', 'opened', 'clicked', 'bounced', 'complained', 'unsubscribed'],
      ...doc.deliveries.map((d) => [`${d.campaign_id}${d.campaign_name ? ` ${d.campaign_name}` : ''}`, d.status, when(d.due_at), when(d.sent_at), when(d.delivered_at),
        when(d.opened_at), when(d.clicked_at), when(d.bounced_at), when(d.complained_at), when(d.unsubscribed_at)]),
    ], { header: true }));
  }
  if (doc.events.length > 0) {
    out();
    out(table([
      ['time', 'event', 'campaign', 'detail'],
      ...doc.events.map((e) => [when(e.time), e.type, e.campaign_id ?? '–', e.link ?? (e.bounce_type ? `${e.bounce_type}/${e.bounce_subtype ?? ''}` : '')]),
    ], { header: true }));
  }
}

async function addressesFrom(ctx: CommandContext, emails: string[], file: string | undefined): Promise<string[]> {
  const all = [...emails];
  if (file) {
    const list = await readAddressList(file);
    for (const p of list.problems) ctx.out.warn(`${file}: ${p}`);
    all.push(...list.addresses);
  }
  if (all.length === 0) throw inputError('NO_ADDRESSES', 'No addresses given.', { hint: 'Name them (marketer subscribers forget jane@example.com) or pass --file list.csv.' });
  return all;
}

export async function subscribersShowAction(email: string, _opts: unknown, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  await withDatabase(ctx, async ({ db }) => {
    const doc = await exportSubscriber(db, email);
    if (ctx.out.json) ctx.out.printJson(doc);
    else printSummary(ctx, doc, false);
  });
}

export async function subscribersExportAction(email: string, _opts: unknown, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  await withDatabase(ctx, async ({ db }) => {
    const doc = await exportSubscriber(db, email);
    if (ctx.out.json) ctx.out.printJson(doc);
    else printSummary(ctx, doc, true);
  });
}

export async function subscribersUnsubscribeAction(emails: string[], _opts: unknown, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  await withDatabase(ctx, async ({ db }) => {
    const r = await unsubscribeAddresses(db, emails);
    if (ctx.out.json) ctx.out.printJson(r);
    else ctx.out.info(`${chalk.green('✔')} Unsubscribed ${formatNumber(r.unsubscribed)}; ${formatNumber(r.already)} already off the list; ${formatNumber(r.not_found)} not ${byCount(r.not_found, 'a subscriber', 'subscribers')} (suppressed all the same); ${plural(r.skipped_deliveries, 'queued delivery', 'queued deliveries')} skipped.`);
  });
}

export async function subscribersForgetAction(emails: string[], opts: { file?: string; vacuum: boolean }, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  const addresses = await addressesFrom(ctx, emails, opts.file);
  await withDatabase(ctx, async ({ db }) => {
    const r = await forgetAddresses(db, addresses, { vacuum: opts.vacuum });
    if (ctx.out.json) {
      ctx.out.printJson(r);
      return;
    }
    ctx.out.info(`${chalk.green('✔')} Forgot ${plural(r.forgotten, 'subscriber')}${r.not_found > 0 ? `; ${plural(r.not_found, 'address')} held no subscriber (suppressed all the same)` : ''}.`);
    ctx.out.info(table(Object.entries(r.rows).map(([k, v]) => [k, formatNumber(v)])));
  });
}
