import type { Readable } from 'node:stream';
import { once } from 'node:events';
import type pg from 'pg';
import copyStreams from 'pg-copy-streams';
import { inputError } from '../errors.js';
import { cleanAddress, isDisposableDomain, isRoleAccount } from './address-hygiene.js';
import { parseConsentDate } from './consent-date.js';
import { hasControlCharacters, overNameLimit, overValueLimit } from './field-limits.js';
import { CsvReader, openCsv, type CsvRow } from './read-csv.js';
import { openRejectsFile, type RejectsFile } from './rejects-file.js';
import { loadZoneNames } from './timezones.js';

export interface ImportOptions {
  /** Path of the CSV file (for messages) and its stream, or '-' for stdin. */
  file: string;
  input?: Readable;
  delimiter?: string;
  /** Consent source stored on every row without a `source` column value. */
  source?: string;
  /** Tags added to every imported row. */
  tags?: string[];
  dryRun?: boolean;
  /** Reject rows with an unknown time zone instead of importing them with the default. */
  strictTimezone?: boolean;
  /** Reject role accounts and disposable domains instead of importing them with a warning. */
  rejectRisky?: boolean;
  defaultTimezone: string;
  /**
   * Write every rejected row, with its line and reason, to this CSV file (a path, or one opened
   * with openRejectsFile before the input, as the CLI does).
   */
  rejectsFile?: string | RejectsFile;
  /** Called every 1,000 rows read, and once more when the merge into subscribers begins. */
  onProgress?: (p: ImportProgress) => void;
}

export interface ImportProgress {
  rows: number;
  /** Every row is read; the one statement that merges them is running. */
  merging: boolean;
}

export interface ImportIssue {
  line: number;
  email: string;
  reason: string;
}

export interface ImportResult {
  /** Data rows read (after the header, blank lines skipped). */
  rows: number;
  inserted: number;
  updated: number;
  unchanged: number;
  /** Addresses left alone because they are unsubscribed, bounced, complained or suppressed. */
  suppressed: number;
  rejected: number;
  /** Rows imported with a warning (unknown zone, role account, disposable domain, bad consent date). */
  warnings: number;
  /** Rows whose address appeared again later in the file (the last one wins). */
  duplicates: number;
  rejects: ImportIssue[];
  warningDetails: ImportIssue[];
  /** True when more issues happened than are listed (all of them are in --rejects). */
  truncated: boolean;
  dryRun: boolean;
}

// Issues kept in memory for the report; a file of a million bad rows must not exhaust memory.
// Every rejected row still reaches the --rejects file.
const MAX_LISTED = 1000;

const KNOWN = ['email', 'first_name', 'last_name', 'timezone', 'tags', 'source', 'consent_at', 'consent_ip', 'consent_text'] as const;
type Known = (typeof KNOWN)[number];
const ALIASES: Record<string, Known> = {
  e_mail: 'email', email_address: 'email', emailaddress: 'email', mail: 'email',
  firstname: 'first_name', first: 'first_name', given_name: 'first_name',
  lastname: 'last_name', last: 'last_name', surname: 'last_name', family_name: 'last_name',
  tz: 'timezone', time_zone: 'timezone',
};

function normaliseHeader(name: string): string {
  return name.trim().toLowerCase().replace(/[\s-]+/g, '_');
}

/** COPY text format: backslash, tab and line breaks escaped; \N is NULL. */
function copyField(value: string | null | undefined): string {
  if (value === null || value === undefined) return '\\N';
  return value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
}

/**
 * A copy of a string that does not point into the chunk it was sliced from: a kept rejected
 * address must not keep a 64 KB read buffer alive with it.
 */
function detach(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

// Imports run one at a time: two overlapping upserts of the same addresses would count wrong.
const IMPORT_LOCK = 7_301_992;

/** Abort an open COPY: resolves once the server has answered the CopyFail. */
function endCopy(copy: ReturnType<typeof copyStreams.from>): Promise<void> {
  return new Promise((resolve) => {
    copy.once('close', () => resolve());
    copy.destroy(new Error('import failed'));
  });
}

/**
 * Stream a CSV file into `subscribers`: every row is checked, good rows are COPYed into a
 * temporary staging table, then one INSERT … ON CONFLICT merges them, all in one transaction.
 * Nothing is written when the command fails or with `dryRun` (the transaction rolls back).
 */
export async function importSubscribers(pool: pg.Pool, options: ImportOptions): Promise<ImportResult> {
  const input = options.input ?? (await openCsv(options.file));
  const reader = new CsvReader(input, { delimiter: options.delimiter });
  const rows = reader.rows();
  const first = await rows.next();
  const header = reader.header;
  if (!header) {
    if (!first.done && 'error' in first.value) {
      throw inputError('CSV_BAD_HEADER', `${options.file}:${first.value.line}: cannot read the header row: ${first.value.error}.`);
    }
    throw inputError('CSV_EMPTY', `${options.file} has no header row: expected a first line such as "email,first_name,last_name,timezone,tags".`);
  }
  const columns = header.columns.map((c) => {
    const n = normaliseHeader(c);
    return (KNOWN as readonly string[]).includes(n) ? (n as Known) : ALIASES[n] ?? undefined;
  });
  const emailIndex = columns.indexOf('email');
  if (emailIndex === -1) {
    throw inputError('CSV_NO_EMAIL_COLUMN', `${options.file} has no "email" column (header: ${header.columns.map((c) => JSON.stringify(c)).join(', ')}).`, {
      hint: header.columns.length === 1 && header.delimiter === ','
        ? 'Only one column was found: if the file uses another delimiter, pass --delimiter.'
        : 'Name the address column "email" in the header row.',
    });
  }
  const index = (k: Known) => columns.indexOf(k);
  const at = { first: index('first_name'), last: index('last_name'), tz: index('timezone'), tags: index('tags'), source: index('source'), consentAt: index('consent_at'), consentIp: index('consent_ip'), consentText: index('consent_text') };
  const attributeColumns = header.columns.map((name, i) => ({ name: name.trim(), i })).filter(({ name, i }) => columns[i] === undefined && name !== '');
  const zones = await loadZoneNames(pool);
  const defaultZone = zones.get(options.defaultTimezone.toLowerCase()) ?? options.defaultTimezone;
  const extraTags = [...new Set((options.tags ?? []).flatMap((t) => t.split(';')).map((t) => t.trim()).filter(Boolean))];

  const result: ImportResult = {
    rows: 0, inserted: 0, updated: 0, unchanged: 0, suppressed: 0, rejected: 0, warnings: 0, duplicates: 0,
    rejects: [], warningDetails: [], truncated: false, dryRun: Boolean(options.dryRun),
  };
  const rejectsOut = typeof options.rejectsFile === 'string' ? await openRejectsFile(options.rejectsFile, options.file) : options.rejectsFile;
  rejectsOut?.write(['line', 'reason', ...header.columns]);
  const reject = (line: number, email: string, reason: string, fields: string[] | undefined) => {
    result.rejected += 1;
    if (result.rejects.length < MAX_LISTED) result.rejects.push({ line, email: detach(email), reason });
    else result.truncated = true;
    rejectsOut?.write([String(line), reason, ...(fields ?? [])]);
  };
  const warn = (line: number, email: string, reason: string) => {
    if (result.warningDetails.length < MAX_LISTED) result.warningDetails.push({ line, email: detach(email), reason: detach(reason) });
    else result.truncated = true;
  };

  const client = await pool.connect();
  let committed = false;
  let copy: ReturnType<typeof copyStreams.from> | undefined;
  try {
    await client.query('BEGIN');
    await client.query('SELECT pg_advisory_xact_lock($1)', [IMPORT_LOCK]);
    // The DISTINCT ON sort of a large file spills to disk at the default 4 MB.
    await client.query("SET LOCAL work_mem = '64MB'");
    await client.query(`CREATE TEMP TABLE import_staging (
      line integer NOT NULL, email text NOT NULL, first_name text, last_name text, timezone text,
      tags text[], attributes jsonb, source text, consent_at timestamptz, consent_ip text, consent_text text
    ) ON COMMIT DROP`);
    const stream = client.query(copyStreams.from('COPY import_staging FROM STDIN'));
    copy = stream;
    const copyDone = new Promise<void>((resolve, reject) => {
      stream.on('finish', resolve);
      stream.on('error', reject);
    });
    // Awaited below; a failure before that ends the COPY in the finally block instead.
    copyDone.catch(() => undefined);
    let buffer = '';
    const flush = async () => {
      if (buffer === '') return;
      const ok = stream.write(buffer);
      buffer = '';
      if (!ok) await once(stream, 'drain');
    };

    const now = new Date();
    const handle = (line: number, f: string[], problem: string | undefined) => {
      result.rows += 1;
      const rawEmail = f[emailIndex] ?? '';
      if (problem) {
        reject(line, rawEmail.trim(), problem, f);
        return;
      }
      if (f.length > header.columns.length && f.slice(header.columns.length).some((v) => v.trim() !== '')) {
        reject(line, rawEmail.trim(), `expected ${header.columns.length} fields, found ${f.length}`, f);
        return;
      }
      const address = cleanAddress(rawEmail);
      if (typeof address === 'string') {
        reject(line, rawEmail.trim(), address, f);
        return;
      }
      const email = address.email;
      const cell = (i: number) => {
        if (i < 0) return null;
        const v = (f[i] ?? '').trim();
        return v === '' ? null : v;
      };
      let firstName = cell(at.first);
      let lastName = cell(at.last);
      const source = cell(at.source);
      const consentIp = cell(at.consentIp);
      const consentText = cell(at.consentText);
      const tags = [...new Set([...(cell(at.tags)?.split(';') ?? []).map((t) => t.trim()).filter(Boolean), ...extraTags])];
      let attributes: string | null = null;
      let tooBig =
        (firstName !== null ? overNameLimit('first_name', firstName) : undefined) ??
        (lastName !== null ? overNameLimit('last_name', lastName) : undefined) ??
        (source !== null ? overNameLimit('source', source) : undefined) ??
        (consentIp !== null ? overNameLimit('consent_ip', consentIp) : undefined) ??
        (consentText !== null ? overValueLimit('consent_text', consentText) : undefined);
      for (let i = 0; tooBig === undefined && i < tags.length; i += 1) tooBig = overNameLimit(`tag "${tags[i]!.slice(0, 20)}…"`, tags[i]!);
      if (tooBig === undefined && attributeColumns.length > 0) {
        const obj: Record<string, string> = {};
        for (const { name, i } of attributeColumns) {
          const v = (f[i] ?? '').trim();
          if (v === '') continue;
          tooBig = overValueLimit(name, v);
          if (tooBig) break;
          obj[name] = v;
        }
        attributes = JSON.stringify(obj);
      }
      if (tooBig) {
        reject(line, email, tooBig, f);
        return;
      }
      let warned = false;
      const risky = isRoleAccount(address.local) ? 'role account' : isDisposableDomain(address.domain) ? 'disposable domain' : undefined;
      if (risky) {
        if (options.rejectRisky) {
          reject(line, email, risky, f);
          return;
        }
        warn(line, email, risky);
        warned = true;
      }
      let timezone: string | null = null;
      const rawZone = at.tz >= 0 ? (f[at.tz] ?? '').trim() : '';
      if (rawZone !== '') {
        const zone = zones.get(rawZone.toLowerCase());
        if (!zone) {
          if (options.strictTimezone) {
            reject(line, email, `invalid time zone "${rawZone}"`, f);
            return;
          }
          warn(line, email, `invalid time zone "${rawZone}" (ignored: the stored zone stays, a new subscriber gets ${defaultZone})`);
          warned = true;
        } else timezone = zone;
      }
      // A name with a line break or other control character could reach a mail header: the
      // name is dropped, the subscriber kept.
      if (firstName !== null && hasControlCharacters(firstName)) {
        warn(line, email, 'first_name has control characters; left empty');
        firstName = null;
        warned = true;
      }
      if (lastName !== null && hasControlCharacters(lastName)) {
        warn(line, email, 'last_name has control characters; left empty');
        lastName = null;
        warned = true;
      }
      let consentAt: string | null = null;
      const rawConsent = cell(at.consentAt);
      if (rawConsent !== null) {
        const parsed = parseConsentDate(rawConsent, now);
        if ('problem' in parsed) {
          warn(line, email, `${parsed.problem}; left empty`);
          warned = true;
        } else {
          consentAt = parsed.value;
          if (parsed.future) {
            warn(line, email, `consent_at "${rawConsent}" is in the future (imported as given)`);
            warned = true;
          }
        }
      }
      if (warned) result.warnings += 1;
      const tagLiteral = `{${tags.map((t) => `"${t.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(',')}}`;
      buffer += `${line}\t${copyField(email)}\t${copyField(firstName)}\t${copyField(lastName)}\t${copyField(timezone)}\t${copyField(tagLiteral)}\t${copyField(attributes)}\t${copyField(source)}\t${copyField(consentAt)}\t${copyField(consentIp)}\t${copyField(consentText)}\n`;
    };

    const consume = async (row: IteratorResult<CsvRow>) => {
      if (row.done) return;
      const r = row.value;
      if ('error' in r) {
        result.rows += 1;
        reject(r.line, '', r.error, undefined);
      } else handle(r.line, r.fields, r.problem);
      // Small flushes keep the COPY buffer short-lived, so it dies young instead of being
      // promoted to the old generation (at 256 KB peak RSS passed 240 MB on a 1M-row file).
      if (buffer.length > 64 * 1024) await flush();
      if (result.rows % 1_000 === 0) options.onProgress?.({ rows: result.rows, merging: false });
    };
    await consume(first);
    for await (const r of rows) await consume({ done: false, value: r });
    await flush();
    stream.end();
    await copyDone;
    options.onProgress?.({ rows: result.rows, merging: true });

    const counts = await client.query<{ distinct_rows: string; suppressed: string; inserted: string; updated: string }>(
      upsertSql(),
      [defaultZone, options.source ?? null],
    );
    const c = counts.rows[0]!;
    const distinct = Number(c.distinct_rows);
    result.suppressed = Number(c.suppressed);
    result.inserted = Number(c.inserted);
    result.updated = Number(c.updated);
    result.unchanged = distinct - result.suppressed - result.inserted - result.updated;
    result.duplicates = result.rows - result.rejected - distinct;
    // A --rejects file that could not be written in full fails the import before it commits.
    await rejectsOut?.close();
    if (options.dryRun) await client.query('ROLLBACK');
    else await client.query('COMMIT');
    committed = true;
  } finally {
    // A failure while the COPY is open: end it (CopyFail) first, or the ROLLBACK would wait
    // behind it for ever and the import would hang instead of failing.
    if (!committed && copy && !copy.writableFinished && !copy.destroyed) await endCopy(copy);
    if (!committed) await client.query('ROLLBACK').catch(() => undefined);
    client.release();
    if (!committed) await rejectsOut?.close().catch(() => undefined);
  }
  return result;
}

/**
 * The merge. The last row of an address in the file wins (DISTINCT ON … line DESC). Suppressed
 * addresses (a suppression row, or a subscriber no longer active) are left exactly as they are:
 * a re-import never resurrects anyone. Existing rows change only where the file says something
 * new: empty cells keep what is stored (a new subscriber gets the default zone and --source),
 * tags and attributes are merged. Each staged row is compared with the stored one in the same
 * pass that looks it up, and only new or different rows reach the INSERT: a re-import of an
 * unchanged file writes nothing, not even a row lock. The ON CONFLICT clause still guards a row
 * that appeared meanwhile, with the same comparison.
 */
export function upsertSql(): string {
  // n: the values the file would store; s: the stored row.
  const differs = (n: (col: string) => string, s: (col: string) => string) => [
    ...['first_name', 'last_name'].map((k) => `(${n(k)} IS NOT NULL AND ${n(k)} IS DISTINCT FROM ${s(k)})`),
    `${n('timezone')} IS DISTINCT FROM ${s('timezone')}`,
    `NOT (${n('tags')} <@ ${s('tags')})`,
    `NOT (${s('attributes')} @> ${n('attributes')})`,
    ...['source', 'consent_at', 'consent_ip', 'consent_text'].map((k) => `(${n(k)} IS NOT NULL AND ${n(k)} IS DISTINCT FROM ${s(k)})`),
  ].join('\n     OR ');
  return `
WITH src AS (
  SELECT DISTINCT ON (lower(email)) * FROM import_staging ORDER BY lower(email), line DESC
), classified AS (
  SELECT src.email, src.first_name, src.last_name,
         coalesce(src.timezone, x.timezone, $1) AS timezone,
         coalesce(src.tags, '{}') AS tags, coalesce(src.attributes, '{}') AS attributes,
         coalesce(src.source, x.source, $2) AS source,
         src.consent_at, src.consent_ip, src.consent_text,
         x.id AS stored_id, x.first_name AS stored_first_name, x.last_name AS stored_last_name,
         x.timezone AS stored_timezone, x.tags AS stored_tags, x.attributes AS stored_attributes,
         x.source AS stored_source, x.consent_at AS stored_consent_at, x.consent_ip AS stored_consent_ip,
         x.consent_text AS stored_consent_text,
         (coalesce(x.status <> 'active', false)
          OR EXISTS (SELECT 1 FROM suppressions p WHERE p.email_hash IN (marketer_address_hash(src.email), marketer_address_hash_previous(src.email)))) AS suppressed
  FROM src LEFT JOIN subscribers x ON lower(x.email) = lower(src.email)
), merged AS (
  INSERT INTO subscribers AS s (email, first_name, last_name, timezone, tags, attributes, source, consent_at, consent_ip, consent_text)
  SELECT c.email, c.first_name, c.last_name, c.timezone, c.tags, c.attributes, c.source, c.consent_at, c.consent_ip, c.consent_text
  FROM classified c
  WHERE NOT c.suppressed AND (c.stored_id IS NULL
     OR ${differs((k) => `c.${k}`, (k) => `c.stored_${k}`)})
  ON CONFLICT (lower(email)) DO UPDATE SET
    first_name   = coalesce(EXCLUDED.first_name, s.first_name),
    last_name    = coalesce(EXCLUDED.last_name, s.last_name),
    timezone     = EXCLUDED.timezone,
    tags         = ARRAY(SELECT DISTINCT t FROM unnest(s.tags || EXCLUDED.tags) t ORDER BY t),
    attributes   = s.attributes || EXCLUDED.attributes,
    source       = coalesce(EXCLUDED.source, s.source),
    consent_at   = coalesce(EXCLUDED.consent_at, s.consent_at),
    consent_ip   = coalesce(EXCLUDED.consent_ip, s.consent_ip),
    consent_text = coalesce(EXCLUDED.consent_text, s.consent_text),
    updated_at   = now()
  WHERE ${differs((k) => `EXCLUDED.${k}`, (k) => `s.${k}`)}
  RETURNING (xmax = 0) AS inserted
)
SELECT (SELECT count(*) FROM src) AS distinct_rows,
       (SELECT count(*) FROM classified WHERE suppressed) AS suppressed,
       count(*) FILTER (WHERE inserted) AS inserted,
       count(*) FILTER (WHERE NOT inserted) AS updated
FROM merged`;
}
