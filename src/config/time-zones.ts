import { readlinkSync } from 'node:fs';

/**
 * Time zone names, checked without building an `Intl.DateTimeFormat`. The first one a process
 * builds loads ICU's date-format data: 30–70 ms of CPU here, more than a `marketer stats` spends
 * on its queries. `Intl.supportedValuesOf('timeZone')` lists ICU's canonical zones for ~2 ms, so
 * a zone found there (or a spelling of UTC) is answered at once; anything else (links such as
 * `US/Eastern` or `Asia/Kolkata`, other letter case, typos) is asked of `Intl.DateTimeFormat`, as
 * every zone was before, so the answers are the same.
 */
let canonical: Set<string> | undefined;

/** Names ICU accepts for UTC itself (Intl.DateTimeFormat resolves each of them to "UTC"). */
const UTC_NAMES = /^(?:Etc\/)?(?:UTC|UCT|GMT|GMT0|GMT[+-]0|Universal|Zulu|Greenwich)$/;

function canonicalZones(): Set<string> {
  canonical ??= new Set(Intl.supportedValuesOf('timeZone'));
  return canonical;
}

/** Whether `zone` is an IANA time zone this Node accepts (`new Intl.DateTimeFormat` does not throw). */
export function isValidZone(zone: string): boolean {
  if (canonicalZones().has(zone) || UTC_NAMES.test(zone)) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * The machine's zone, as `Intl.DateTimeFormat().resolvedOptions().timeZone` gives it: from `TZ`
 * when set, else from where /etc/localtime links to (which is where ICU reads it on Linux and
 * macOS). Only a canonical name (or UTC) is taken from those; anything else is asked of Intl.
 */
export function machineZone(env: NodeJS.ProcessEnv = process.env, localtimeLink = '/etc/localtime'): string {
  const fromName = (name: string | undefined): string | undefined => {
    if (name === undefined) return undefined;
    if (UTC_NAMES.test(name)) return 'UTC';
    return canonicalZones().has(name) ? name : undefined;
  };
  let known: string | undefined;
  if (env.TZ !== undefined) {
    known = fromName(env.TZ === '' ? 'UTC' : env.TZ);
  } else {
    try {
      known = fromName(/\/zoneinfo\/(.+)$/.exec(readlinkSync(localtimeLink))?.[1]);
    } catch {
      known = undefined;
    }
  }
  return known ?? Intl.DateTimeFormat().resolvedOptions().timeZone ?? 'UTC';
}
