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

export function registerSubscribers(program: Command): void {
  const subscribers = program.command('subscribers').description('One person\'s data: show, export (access requests), unsubscribe, forget (erasure requests)');

  subscribers
    .command('show')
    .description('What we hold about one address: subscriber row, consent, suppression, counts')
    .argument('<email>', 'the address (any case)')
    .option('--json', 'print one JSON document (the same as export --json)')
    .addHelpText('after', '\nExample:\n  $ marketer subscribers show jane@example.com\n')
    .action(async (email: string, _opts, cmd: Command) => {
      const ctx = commandContext(cmd);
      await withDatabase(ctx, async ({ db }) => {
        const doc = await exportSubscriber(db, email);
        if (ctx.out.json) ctx.out.printJson(doc);
        else printSummary(ctx, doc, false);
      });
    });

  subscribers
    .command('export')
    .description('Everything we hold about one address, every delivery and event: the answer to an access request')
    .argument('<email>', 'the address (any case)')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
The JSON document holds the subscriber row with its consent record, tags and attributes, every
delivery (campaign, status, times), every stored event (type, time, link) and the suppression,
if any. See docs/privacy.md.

Examples:
  $ marketer subscribers export jane@example.com --json > jane.json
  $ marketer subscribers export jane@example.com
`,
    )
    .action(async (email: string, _opts, cmd: Command) => {
      const ctx = commandContext(cmd);
      await withDatabase(ctx, async ({ db }) => {
        const doc = await exportSubscriber(db, email);
        if (ctx.out.json) ctx.out.printJson(doc);
        else printSummary(ctx, doc, true);
      });
    });

  subscribers
    .command('unsubscribe')
    .description('Unsubscribe and suppress addresses, as the one-click link does')
    .argument('<email...>', 'one or more addresses')
    .option('--json', 'print one JSON document')
    .addHelpText('after', '\nAn address with no subscriber is suppressed all the same, so a later import skips it.\n\nExample:\n  $ marketer subscribers unsubscribe jane@example.com joe@example.org --json\n')
    .action(async (emails: string[], _opts, cmd: Command) => {
      const ctx = commandContext(cmd);
      await withDatabase(ctx, async ({ db }) => {
        const r = await unsubscribeAddresses(db, emails);
        if (ctx.out.json) ctx.out.printJson(r);
        else ctx.out.info(`${chalk.green('✔')} Unsubscribed ${formatNumber(r.unsubscribed)}; ${formatNumber(r.already)} already off the list; ${formatNumber(r.not_found)} not ${byCount(r.not_found, 'a subscriber', 'subscribers')} (suppressed all the same); ${plural(r.skipped_deliveries, 'queued delivery', 'queued deliveries')} skipped.`);
      });
    });

  subscribers
    .command('forget')
    .description('Erase people: every table and stored payload, keeping campaign figures and a keyed hash that blocks re-import')
    .argument('[email...]', 'addresses to erase')
    .option('--file <list.csv>', 'addresses from a CSV with an "email" column, or one per line')
    .option('--no-vacuum', 'skip the VACUUM that removes the old row versions at once (autovacuum does it later)')
    .option('--json', 'print one JSON document')
    .addHelpText(
      'after',
      `
Afterwards no table, index or stored event holds the address, name, attributes or consent IP.
Deliveries and events keep campaign, status, times and type, so campaign figures do not change;
a keyed hash of the address stays in the suppression list, so it is never imported (counted as
"suppressed") or mailed again. An audit row records when and how many rows, never who.

--json prints {"forgotten":n,"not_found":n,"rows":{"subscribers":n,"deliveries":n,"events":n,"suppressions":n}}.

Examples:
  $ marketer subscribers forget jane@example.com
  $ marketer subscribers forget --file erasure-requests.csv --json
`,
    )
    .action(async (emails: string[], opts: { file?: string; vacuum: boolean }, cmd: Command) => {
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
    });
}
