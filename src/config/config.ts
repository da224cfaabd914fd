import { readFileSync, existsSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { LineCounter, parseDocument, isMap, isScalar, type Node as YamlNode } from 'yaml';
import { inputError } from '../errors.js';
import { isValidZone } from './time-zones.js';

export { isValidZone };

export type Transport = 'ses' | 'outbox';
/** auto: TimescaleDB where the server can load it; off: never touch it; require: fail without it. */
export type TimescaleSetting = 'auto' | 'off' | 'require';

/** Everything marketer reads from `marketer.yaml` and the environment, validated. */
export interface Config {
  /** Folder holding marketer.yaml (or the working directory): relative paths resolve here. */
  root: string;
  /** The config file that was read, if any. */
  file: string | undefined;
  databaseUrl: string | undefined;
  /** Where the embedded Postgres keeps its data when DATABASE_URL is unset. */
  dataDir: string;
  embeddedPort: number;
  transport: Transport;
  outboxDir: string;
  from: string | undefined;
  replyTo: string | undefined;
  defaultTimezone: string;
  /** Base URL of the one-click unsubscribe endpoint, e.g. https://mail.example.com/u */
  unsubscribeUrl: string | undefined;
  unsubscribeSecret: string | undefined;
  listManagement: { contactList: string; topic: string } | undefined;
  configurationSet: string | undefined;
  /** The configuration set for `transactional: true` campaigns (their events and reputation apart). */
  transactionalConfigurationSet: string | undefined;
  /** DNS servers (`ip` or `ip:port`) for doctor's lookups; undefined = the system resolver. */
  dnsServers: string[] | undefined;
  sesEndpoint: string | undefined;
  awsRegion: string | undefined;
  concurrency: number;
  /** Messages per second; undefined = a share of SES's MaxSendRate. */
  rate: number | undefined;
  /** Share of SES's MaxSendRate used when `rate` is unset. */
  rateShare: number;
  leaseSeconds: number;
  maxConsecutiveFailures: number;
  softBounceLimit: number;
  sqsQueueUrl: string | undefined;
  /** Warm-up: a daily cap growing from start to target over days, from since (YYYY-MM-DD, UTC). */
  warmup: { start: number; target: number; days: number; since: string } | undefined;
  /** Circuit breakers: pause a campaign whose hard bounces or complaints climb past these. */
  breakers: { maxBounceRate: number; maxComplaintRate: number; minSample: number };
  /** Topics `marketer serve` accepts SNS notifications from (comma-separated in the file or environment). */
  snsTopicArns: string[] | undefined;
  apiToken: string | undefined;
  /**
   * Set by commands that send nothing (validate, plan, apply --plan): without
   * MARKETER_UNSUBSCRIBE_SECRET (a pull request's job holds no secrets) unsubscribe links are
   * signed with a placeholder instead of failing. Never read from a file or the environment.
   */
  unsubscribePlaceholder?: boolean;
  /** Keys the HMAC of stored address hashes (MARKETER_HASH_SECRET; see src/db/address-hash.ts). */
  hashSecret: string | undefined;
  /** The secret hashes were written with before a rotation (still matched, never written). */
  hashSecretPrevious: string | undefined;
  /** 'full' keeps each SES event's details object (bounce diagnostics, recipients); 'none' keeps columns only. */
  eventsPayload: 'none' | 'full';
  /** Events older than this many days are dropped (undefined: kept). */
  eventsRetentionDays: number | undefined;
  /** Whether email_events uses TimescaleDB (see src/db/timescale-state.ts). */
  timescale: TimescaleSetting;
  /** Sunsetting for marketing campaigns (src/audience/sunset.ts); undefined: off. */
  sunset: { seconds: number; text: string; minCampaigns: number } | undefined;
  /** Campaigns received without an open or click that sunset a subscriber. */
  sunsetMinCampaigns: number;
}

type Kind = 'string' | 'int' | 'number' | 'enum' | 'url';
interface KeySpec {
  kind: Kind;
  values?: readonly string[];
  min?: number;
  max?: number;
  /** Secrets come only from the environment, never from a file in Git. */
  envOnly?: boolean;
  /** Extra environment names accepted besides MARKETER_<KEY> (lower precedence). */
  aliases?: string[];
}

/** The keys of marketer.yaml. Each can be set as MARKETER_<KEY> (upper snake case). */
export const CONFIG_KEYS = {
  database_url: { kind: 'string', aliases: ['DATABASE_URL'] },
  data_dir: { kind: 'string' },
  embedded_port: { kind: 'int', min: 1024, max: 65535 },
  transport: { kind: 'enum', values: ['ses', 'outbox'] },
  outbox_dir: { kind: 'string' },
  from: { kind: 'string' },
  reply_to: { kind: 'string' },
  default_timezone: { kind: 'string' },
  unsubscribe_url: { kind: 'url' },
  unsubscribe_secret: { kind: 'string', envOnly: true },
  list_management_contact_list: { kind: 'string' },
  list_management_topic: { kind: 'string' },
  configuration_set: { kind: 'string' },
  transactional_configuration_set: { kind: 'string' },
  dns_servers: { kind: 'string' },
  ses_endpoint: { kind: 'url' },
  aws_region: { kind: 'string', aliases: ['AWS_REGION', 'AWS_DEFAULT_REGION'] },
  concurrency: { kind: 'int', min: 1, max: 1000 },
  rate: { kind: 'number', min: 0.01 },
  rate_share: { kind: 'number', min: 0.01, max: 1 },
  lease_seconds: { kind: 'int', min: 5, max: 3600 },
  max_consecutive_failures: { kind: 'int', min: 1 },
  soft_bounce_limit: { kind: 'int', min: 1 },
  sqs_queue_url: { kind: 'url' },
  warmup_start: { kind: 'int', min: 1 },
  warmup_target: { kind: 'int', min: 1 },
  warmup_days: { kind: 'int', min: 1, max: 365 },
  warmup_since: { kind: 'string' },
  max_bounce_rate: { kind: 'number', min: 0, max: 1 },
  max_complaint_rate: { kind: 'number', min: 0, max: 1 },
  min_rate_sample: { kind: 'int', min: 1 },
  sns_topic_arns: { kind: 'string' },
  api_token: { kind: 'string', envOnly: true },
  hash_secret: { kind: 'string', envOnly: true },
  hash_secret_previous: { kind: 'string', envOnly: true },
  events_payload: { kind: 'enum', values: ['none', 'full'] },
  events_retention: { kind: 'string' },
  timescale: { kind: 'enum', values: ['auto', 'off', 'require'] },
  sunset_after: { kind: 'string' },
  sunset_min_campaigns: { kind: 'int', min: 1, max: 1000 },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

export function envName(key: string): string {
  return `MARKETER_${key.toUpperCase()}`;
}

export interface LoadConfigOptions {
  /** Working directory to search for marketer.yaml. */
  cwd?: string;
  /** Explicit config file (`--config`). */
  file?: string;
  env?: NodeJS.ProcessEnv;
}

/** Read marketer.yaml (optional) and the environment into a validated Config. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const explicit = options.file ?? env.MARKETER_CONFIG;
  const file = explicit ? path.resolve(cwd, explicit) : path.join(cwd, 'marketer.yaml');
  if (explicit && !existsSync(file)) {
    throw inputError('CONFIG_NOT_FOUND', `Config file ${file} does not exist.`, {
      hint: 'Pass an existing file with --config, or drop the flag to use ./marketer.yaml.',
    });
  }
  const raw: Record<string, { value: unknown; where: string }> = {};
  const problems: string[] = [];
  const present = existsSync(file);
  if (present) readFileKeys(file, raw, problems);

  const values: Partial<Record<ConfigKey, string | number>> = {};
  for (const [key, spec] of Object.entries(CONFIG_KEYS) as [ConfigKey, KeySpec][]) {
    const fromEnv = env[envName(key)] ?? spec.aliases?.map((a) => env[a]).find((v) => v !== undefined && v !== '');
    let value: unknown;
    let where: string;
    if (fromEnv !== undefined && fromEnv !== '') {
      value = fromEnv;
      where = `environment variable ${envName(key)}`;
    } else if (raw[key]) {
      if (spec.envOnly) {
        problems.push(`${raw[key].where}: "${key}" is a secret and is read only from the environment (${envName(key)}); remove it from the file.`);
        continue;
      }
      value = raw[key].value;
      where = raw[key].where;
    } else continue;
    const parsed = parseValue(key, spec, value, where, problems);
    if (parsed !== undefined) values[key] = parsed;
  }
  for (const [key, { where }] of Object.entries(raw)) {
    if (!(key in CONFIG_KEYS)) {
      const close = Object.keys(CONFIG_KEYS).find((k) => k.replace(/_/g, '') === key.replace(/[_-]/g, '').toLowerCase());
      problems.push(`${where}: unknown key "${key}"${close ? ` (did you mean "${close}"?)` : ''}.`);
    }
  }
  const root = present ? path.dirname(file) : cwd;
  const str = (k: ConfigKey) => values[k] as string | undefined;
  const num = (k: ConfigKey) => values[k] as number | undefined;
  const defaultTimezone = str('default_timezone') ?? 'UTC';
  if (!isValidZone(defaultTimezone)) problems.push(`default_timezone: "${defaultTimezone}" is not an IANA time zone (e.g. Europe/Berlin).`);
  const contactList = str('list_management_contact_list');
  const topic = str('list_management_topic');
  if ((contactList === undefined) !== (topic === undefined)) {
    problems.push('list_management_contact_list and list_management_topic go together: set both or neither.');
  }
  const dnsServers = parseDnsServers(str('dns_servers'), problems);
  const retention = str('events_retention');
  const eventsRetentionDays = retention === undefined ? undefined : parseRetention(retention, problems);

  const warmup = readWarmup(values, problems);
  const sunsetMinCampaigns = num('sunset_min_campaigns') ?? 5;
  const sunset = readSunset(str('sunset_after'), sunsetMinCampaigns, problems);
  if (problems.length > 0) {
    throw inputError('CONFIG_INVALID', `Invalid configuration${present ? ` in ${file}` : ''}:`, {
      details: problems,
      hint: `Every key can also be set from the environment as MARKETER_<KEY>, e.g. ${envName('transport')}=outbox.`,
    });
  }
  return {
    root,
    file: present ? file : undefined,
    databaseUrl: str('database_url'),
    dataDir: path.resolve(root, str('data_dir') ?? '.marketer'),
    embeddedPort: num('embedded_port') ?? 54329,
    transport: (str('transport') as Transport | undefined) ?? (str('database_url') ? 'ses' : 'outbox'),
    outboxDir: path.resolve(root, str('outbox_dir') ?? 'outbox'),
    from: str('from'),
    replyTo: str('reply_to'),
    defaultTimezone,
    unsubscribeUrl: str('unsubscribe_url'),
    unsubscribeSecret: str('unsubscribe_secret'),
    listManagement: contactList && topic ? { contactList, topic } : undefined,
    configurationSet: str('configuration_set'),
    transactionalConfigurationSet: str('transactional_configuration_set'),
    dnsServers,
    sesEndpoint: str('ses_endpoint'),
    awsRegion: str('aws_region'),
    concurrency: num('concurrency') ?? 16,
    rate: num('rate'),
    rateShare: num('rate_share') ?? 0.8,
    leaseSeconds: num('lease_seconds') ?? 60,
    maxConsecutiveFailures: num('max_consecutive_failures') ?? 50,
    softBounceLimit: num('soft_bounce_limit') ?? 3,
    sqsQueueUrl: str('sqs_queue_url'),
    warmup,
    breakers: {
      maxBounceRate: num('max_bounce_rate') ?? 0.05,
      maxComplaintRate: num('max_complaint_rate') ?? 0.001,
      minSample: num('min_rate_sample') ?? 200,
    },
    snsTopicArns: str('sns_topic_arns')?.split(',').map((a) => a.trim()).filter(Boolean),
    apiToken: str('api_token'),
    hashSecret: str('hash_secret'),
    hashSecretPrevious: str('hash_secret_previous'),
    eventsPayload: (str('events_payload') as 'none' | 'full' | undefined) ?? 'none',
    eventsRetentionDays,
    timescale: (str('timescale') as TimescaleSetting | undefined) ?? 'auto',
    sunset,
    sunsetMinCampaigns,
  };
}

/** `sunset_after`: off (the default) or a period such as 180d (d, h, m, s, as schedule.late_grace). */
function readSunset(value: string | undefined, minCampaigns: number, problems: string[]): Config['sunset'] {
  const v = value?.trim().toLowerCase();
  if (v === undefined || v === 'off' || v === 'none' || v === 'false') return undefined;
  const units: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
  let seconds = 0;
  if (/^(\d{1,6}\s*[smhd]\s*)+$/.test(v)) for (const m of v.matchAll(/(\d+)\s*([smhd])/g)) seconds += Number(m[1]) * units[m[2]!]!;
  if (seconds <= 0 || seconds > 100 * 365 * 86400) {
    problems.push(`sunset_after: "${value}" is not a period (e.g. 180d, 90d, or off).`);
    return undefined;
  }
  return { seconds, text: v, minCampaigns };
}

/**
 * warmup.since turns the warm-up on (with warmup.target); warmup.start defaults to 500 a day
 * and warmup.days to 14, the usual advice for a new sender.
 */
function readWarmup(values: Partial<Record<ConfigKey, string | number>>, problems: string[]): Config['warmup'] {
  const since = values.warmup_since as string | undefined;
  const target = values.warmup_target as number | undefined;
  const start = (values.warmup_start as number | undefined) ?? 500;
  const days = (values.warmup_days as number | undefined) ?? 14;
  const any = ['warmup_since', 'warmup_target', 'warmup_start', 'warmup_days'].some((k) => values[k as ConfigKey] !== undefined);
  if (!any) return undefined;
  if (since === undefined || target === undefined) {
    problems.push('warmup: set warmup.since (the first day, e.g. 2026-12-01) and warmup.target (messages a day at the end), or no warmup key at all.');
    return undefined;
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(since) || Number.isNaN(Date.parse(`${since}T00:00:00Z`))) {
    problems.push(`warmup.since: "${since}" is not a date (YYYY-MM-DD).`);
    return undefined;
  }
  return { start, target, days, since };
}

function readFileKeys(file: string, out: Record<string, { value: unknown; where: string }>, problems: string[]): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw inputError('CONFIG_UNREADABLE', `Cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
  const at = (offset: number | undefined) => {
    const p = lc.linePos(offset ?? 0);
    return `${file}:${p.line}:${p.col}`;
  };
  if (doc.errors.length > 0) {
    for (const e of doc.errors) problems.push(`${at(e.pos[0])}: ${e.message.split('\n')[0]}`);
    return;
  }
  if (doc.contents === null) return;
  if (!isMap(doc.contents)) {
    problems.push(`${at(doc.contents.range?.[0])}: the file must be a mapping of key: value.`);
    return;
  }
  const visit = (node: YamlNode, prefix: string) => {
    if (!isMap(node)) return;
    for (const pair of node.items) {
      const keyNode = pair.key as YamlNode | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : '';
      const full = prefix ? `${prefix}_${key}` : key;
      const valueNode = pair.value as YamlNode | null;
      if (valueNode && isMap(valueNode)) visit(valueNode, full);
      else {
        const value = valueNode && isScalar(valueNode) ? valueNode.value : valueNode?.toJSON();
        if (value === null || value === undefined) continue;
        out[full] = { value, where: at(keyNode?.range?.[0]) };
      }
    }
  };
  visit(doc.contents, '');
}

function parseValue(key: string, spec: KeySpec, value: unknown, where: string, problems: string[]): string | number | undefined {
  const bad = (what: string) => {
    problems.push(`${where}: "${key}" ${what}.`);
    return undefined;
  };
  switch (spec.kind) {
    case 'int':
    case 'number': {
      const n = typeof value === 'number' ? value : Number(String(value).trim());
      if (!Number.isFinite(n) || (spec.kind === 'int' && !Number.isInteger(n))) {
        return bad(`must be ${spec.kind === 'int' ? 'a whole number' : 'a number'}, got ${JSON.stringify(value)}`);
      }
      if (spec.min !== undefined && n < spec.min) return bad(`must be at least ${spec.min}, got ${n}`);
      if (spec.max !== undefined && n > spec.max) return bad(`must be at most ${spec.max}, got ${n}`);
      return n;
    }
    case 'enum': {
      const s = String(value);
      if (!spec.values?.includes(s)) return bad(`must be one of ${spec.values?.join(', ')}, got ${JSON.stringify(value)}`);
      return s;
    }
    case 'url': {
      const s = String(value);
      try {
        const u = new URL(s);
        if (u.protocol !== 'https:' && u.protocol !== 'http:') return bad(`must be an http(s) URL, got ${JSON.stringify(s)}`);
      } catch {
        return bad(`must be a URL, got ${JSON.stringify(s)}`);
      }
      return s.replace(/\/+$/, '');
    }
    default:
      if (typeof value === 'object') return bad('must be a single value, not a list or mapping');
      return String(value);
  }
}

/** `dns_servers`: comma-separated `ip`, `ip:port` or `[ipv6]:port` (node:dns takes addresses, not names). */
function parseDnsServers(value: string | undefined, problems: string[]): string[] | undefined {
  if (value === undefined) return undefined;
  const servers = value.split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of servers) {
    const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(s) ?? /^([^:]+)(?::(\d+))?$/.exec(s);
    const host = m ? m[1]! : s;
    const port = m?.[2] === undefined ? 53 : Number(m[2]);
    if (isIP(host) === 0 || !(port >= 1 && port <= 65535)) {
      problems.push(`dns_servers: "${s}" is not an IP address with an optional port (e.g. 1.1.1.1, 127.0.0.1:5353, [2606:4700::1111]:53).`);
    }
  }
  return servers.length > 0 ? servers : undefined;
}

/** `400d`, `56w`, `13m` (months of 30 days), `1y` (365 days), or `none`: whole days. */
export function parseRetention(value: string, problems: string[]): number | undefined {
  const v = value.trim().toLowerCase();
  if (v === 'none' || v === 'off') return undefined;
  const m = /^(\d{1,5})\s*(d|w|m|y)$/.exec(v);
  const days = m ? Number(m[1]) * { d: 1, w: 7, m: 30, y: 365 }[m[2] as 'd' | 'w' | 'm' | 'y'] : NaN;
  if (!Number.isInteger(days) || days < 1 || days > 36_500) {
    problems.push(`events_retention: "${value}" is not a retention period (e.g. 400d, 56w, 13m, 1y, or none).`);
    return undefined;
  }
  return days;
}

