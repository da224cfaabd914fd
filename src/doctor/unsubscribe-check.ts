import type { Config } from '../config/config.js';
import type { DoctorCheck } from './types.js';

/** unsubscribe: how marketing mail lets people leave, which RFC 8058 and the 2024 bulk-sender rules require. */
export function unsubscribeCheck(config: Config): DoctorCheck {
  const id = 'unsubscribe';
  if (config.listManagement) {
    return { id, status: 'ok', detail: `SES subscription management (contact list ${config.listManagement.contactList}, topic ${config.listManagement.topic}) adds the link and the one-click headers`, fix: '' };
  }
  const problems: string[] = [];
  const fixes: string[] = [];
  if (!config.unsubscribeSecret) {
    problems.push('MARKETER_UNSUBSCRIBE_SECRET is not set (unsubscribe tokens cannot be signed)');
    fixes.push('export MARKETER_UNSUBSCRIBE_SECRET="$(openssl rand -hex 32)" (keep it: changing it voids the links already sent)');
  }
  if (!config.unsubscribeUrl) {
    problems.push('unsubscribe_url is not set');
    fixes.push('set unsubscribe_url: https://mail.example.com/u in marketer.yaml, served by marketer serve behind TLS');
  } else if (!config.unsubscribeUrl.startsWith('https://')) {
    problems.push(`unsubscribe_url ${config.unsubscribeUrl} is not https (mailbox providers honour one-click unsubscribe only over https)`);
    fixes.push(`change unsubscribe_url to https://${config.unsubscribeUrl.replace(/^http:\/\//, '')}`);
  }
  if (problems.length > 0) return { id, status: 'error', detail: problems.join('; '), fix: `${fixes.join('; ')}; or use SES subscription management (list_management.contact_list and list_management.topic)` };
  if (config.unsubscribeSecret!.length < 16) {
    return { id, status: 'warn', detail: `MARKETER_UNSUBSCRIBE_SECRET is only ${config.unsubscribeSecret!.length} characters: tokens signed with it are guessable`, fix: 'export MARKETER_UNSUBSCRIBE_SECRET="$(openssl rand -hex 32)"' };
  }
  return { id, status: 'ok', detail: `one-click unsubscribe at ${config.unsubscribeUrl}/<token> with a keyed token`, fix: '' };
}
