import type { Command } from 'commander';
import { lazyAction } from './lazy-action.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('Check the sender\'s setup: SES account and quota, each From domain (identity, DKIM, MAIL FROM, SPF, DMARC), configuration sets, the event queue, unsubscribe')
    .argument('[paths...]', 'campaign files or folders whose From domains to check (default: campaigns/)')
    .option('--json', 'print {"ok": …, "checks": [{id, status, detail, fix, domain?}]}')
    .addHelpText('after', `
Each check prints ✓ (ok), ! (works, but costs deliverability) or ✗ (mail fails or lands in
spam), what was found and the exact fix. Exits 1 when any check is ✗. Reads only: GetAccount,
GetEmailIdentity, GetConfigurationSet(EventDestinations), SQS GetQueueAttributes, and DNS
(the system resolver, or dns_servers in marketer.yaml). What each check means:
docs/deliverability.md.

Examples:
  $ marketer doctor
  $ marketer doctor campaigns/receipts.yaml
  $ MARKETER_DNS_SERVERS=1.1.1.1 marketer doctor --json | jq '.checks[] | select(.status != "ok")'`)
    .action(lazyAction(() => import('../commands/doctor.js'), (m) => m.doctorAction));
}
