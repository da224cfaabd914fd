import type { Config } from '../config/config.js';
import type { UnsubscribeMode } from './types.js';

/**
 * Marks every token signed with it as worthless: it is in the source code. Only ever used with
 * the outbox transport, where nothing reaches a real inbox.
 */
export const DEVELOPMENT_UNSUBSCRIBE_SECRET = 'marketer-development-secret-DO-NOT-USE-IN-PRODUCTION';
export const DEVELOPMENT_UNSUBSCRIBE_URL = 'http://localhost:8025/u';

/** Signs the unsubscribe links of a plan made without the secret; such a plan sends nothing. */
export const PLACEHOLDER_UNSUBSCRIBE_SECRET = 'marketer-placeholder-secret-plan-only';
export const PLACEHOLDER_WARNING = 'unsubscribe links are signed with a placeholder secret because MARKETER_UNSUBSCRIBE_SECRET is not set here (a pull request\'s job holds no secrets); the sending job signs them with the real one';

export interface UnsubscribeResolution {
  mode: UnsubscribeMode | undefined;
  problem: { message: string; hint: string } | undefined;
  warning: string | undefined;
}

/** How a campaign's mail lets people unsubscribe, or why it cannot be sent as configured. */
export function resolveUnsubscribe(config: Config, transactional: boolean): UnsubscribeResolution {
  if (config.listManagement && !transactional) {
    const { contactList, topic } = config.listManagement;
    return { mode: { kind: 'list-management', contactListName: contactList, topicName: topic }, problem: undefined, warning: undefined };
  }
  const { unsubscribeUrl: baseUrl, unsubscribeSecret: secret } = config;
  if (baseUrl && secret) {
    if (config.transport === 'ses' && !baseUrl.startsWith('https://') && !transactional) {
      return {
        mode: undefined,
        problem: {
          message: `unsubscribe_url ${baseUrl} is not https`,
          hint: 'mailbox providers only honour one-click unsubscribe (RFC 8058) over https: set unsubscribe_url in marketer.yaml to an https URL',
        },
        warning: undefined,
      };
    }
    return { mode: { kind: 'token', baseUrl, secret, development: false }, problem: undefined, warning: undefined };
  }
  if (transactional) return { mode: { kind: 'none' }, problem: undefined, warning: undefined };
  if (config.transport === 'outbox') {
    // Real links need both; the warning names what is missing (a set secret alone is not used).
    const unset = [!secret && 'MARKETER_UNSUBSCRIBE_SECRET', !baseUrl && 'unsubscribe_url'].filter(Boolean).join(' and ');
    return {
      mode: { kind: 'token', baseUrl: baseUrl ?? DEVELOPMENT_UNSUBSCRIBE_URL, secret: DEVELOPMENT_UNSUBSCRIBE_SECRET, development: true },
      problem: undefined,
      warning: `unsubscribe links use a development secret${baseUrl ? '' : ` and ${DEVELOPMENT_UNSUBSCRIBE_URL}`} because ${unset} ${unset.includes(' and ') ? 'are' : 'is'} not set; fine for the outbox, refused with transport ses`,
    };
  }
  if (config.unsubscribePlaceholder && baseUrl) {
    const https = config.transport !== 'ses' || baseUrl.startsWith('https://');
    return {
      mode: { kind: 'token', baseUrl, secret: PLACEHOLDER_UNSUBSCRIBE_SECRET, development: true },
      problem: https ? undefined : { message: `unsubscribe_url ${baseUrl} is not https`, hint: 'mailbox providers only honour one-click unsubscribe (RFC 8058) over https: set unsubscribe_url in marketer.yaml to an https URL' },
      warning: PLACEHOLDER_WARNING,
    };
  }
  const missing = [!secret && 'the environment variable MARKETER_UNSUBSCRIBE_SECRET', !baseUrl && 'unsubscribe_url in marketer.yaml'].filter(Boolean).join(' and ');
  return {
    mode: undefined,
    problem: {
      message: `marketing mail needs an unsubscribe link, but ${missing} ${missing.includes(' and ') ? 'are' : 'is'} not set`,
      hint: 'set MARKETER_UNSUBSCRIBE_SECRET (e.g. `openssl rand -hex 32`) and unsubscribe_url: https://mail.example.com/u, or let SES manage it with list_management.contact_list and list_management.topic, or mark one-to-one mail transactional: true',
    },
    warning: undefined,
  };
}
