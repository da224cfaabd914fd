import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import chalk from 'chalk';
import type { Command } from 'commander';
import { sql } from 'kysely';
import { compileCampaign, findLinks, loadCampaign, SAMPLE_RECIPIENT, type CompiledCampaign, type RenderRecipient } from '../../campaigns/index.js';
import { inputError } from '../../errors.js';
import { commandContext, withDatabase, type CommandContext } from '../context.js';
import { formatNumber, plural } from '../format.js';

interface PreviewOptions {
  email?: string;
  sample?: boolean;
  out?: string;
  text?: boolean;
  variant?: string;
}

export async function previewAction(file: string, opts: PreviewOptions, cmd: Command): Promise<void> {
  const ctx = commandContext(cmd);
  if (opts.email && opts.sample) throw inputError('USAGE', 'Use --email or --sample, not both.');
  const campaign = await loadCampaign(path.resolve(file), ctx.config);
  const compiled = pickVariant(await compileCampaign(campaign, ctx.config), opts.variant);
  const recipient = opts.email ? await readSubscriber(ctx, opts.email) : SAMPLE_RECIPIENT;
  const message = compiled.render(recipient);
  const body = opts.text ? message.text : message.html;
  const links = findLinks(message.html);
  const bytes = Buffer.byteLength(message.html) + Buffer.byteLength(message.text);

  if (ctx.out.json) {
    ctx.out.printJson({
      campaign: { id: campaign.id, name: campaign.name, file: campaign.relFile },
      recipient: { email: recipient.email, sample: !opts.email },
      subject: message.subject,
      preheader: message.preheader ?? null,
      from: message.from,
      replyTo: message.replyTo,
      headers: message.headers,
      unsubscribeUrl: message.unsubscribeUrl ?? null,
      sizeBytes: { html: Buffer.byteLength(message.html), text: Buffer.byteLength(message.text) },
      links,
      warnings: campaign.warnings,
      ...(opts.out ? { out: path.resolve(opts.out) } : { html: message.html, text: message.text }),
    });
    if (opts.out) await writeFile(opts.out, body);
    return;
  }

  for (const w of campaign.warnings) ctx.out.warn(w);
  // With the message on stdout, the summary goes to stderr so that `> file` gets only the mail.
  const say = opts.out ? (l: string) => ctx.out.info(l) : (l: string) => process.stderr.write(`${l}\n`);
  say(`${chalk.bold('To')}         ${recipient.email}${opts.email ? '' : chalk.dim(' (sample subscriber)')}`);
  say(`${chalk.bold('From')}       ${message.from}`);
  if (message.replyTo.length > 0) say(`${chalk.bold('Reply-To')}   ${message.replyTo.join(', ')}`);
  say(`${chalk.bold('Subject')}    ${message.subject}`);
  say(`${chalk.bold('Preheader')}  ${message.preheader ?? chalk.dim('(none)')}`);
  say(`${chalk.bold('Size')}       ${plural(Buffer.byteLength(message.html), 'byte')} HTML, ${plural(Buffer.byteLength(message.text), 'byte')} text (${formatNumber(bytes)} total)`);
  for (const h of message.headers) say(`${chalk.bold(h.name)}: ${h.value}`);
  if (message.listManagement) say(`${chalk.bold('Unsubscribe')} by SES list management (${message.listManagement.contactListName} / ${message.listManagement.topicName})`);
  say(`${chalk.bold('Links')}      ${formatNumber(links.length)}`);
  for (const l of links) say(`  ${l}`);
  if (opts.out) {
    await writeFile(opts.out, body);
    say(`Wrote the ${opts.text ? 'text part' : 'HTML'} to ${opts.out}`);
  } else {
    process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
  }
}

async function readSubscriber(ctx: CommandContext, email: string): Promise<RenderRecipient> {
  const row = await withDatabase(ctx, ({ db }) =>
    db
      .selectFrom('subscribers')
      .select(['id', 'email', 'first_name', 'last_name', 'timezone', 'attributes'])
      .where(sql<string>`lower(email)`, '=', email.trim().toLowerCase())
      .executeTakeFirst(),
  );
  if (!row) {
    throw inputError('SUBSCRIBER_NOT_FOUND', `No subscriber ${email}.`, { hint: 'check the address, or use --sample for the built-in sample subscriber' });
  }
  return {
    subscriberId: String(row.id),
    email: row.email,
    first_name: row.first_name,
    last_name: row.last_name,
    timezone: row.timezone,
    attributes: row.attributes,
  };
}

/** An A/B test's variant by name (default: the first); a campaign without a test has only itself. */
function pickVariant(compiled: CompiledCampaign, name: string | undefined): CompiledCampaign {
  const names = [...(compiled.variants?.keys() ?? [])];
  if (name === undefined) return names[0] === undefined ? compiled : compiled.variants!.get(names[0])!;
  const v = compiled.variants?.get(name);
  if (!v) {
    throw inputError('USAGE', `--variant ${name}: ${names.length > 0 ? `this campaign's variants are ${names.join(', ')}` : 'this campaign has no variants'}.`);
  }
  return v;
}
