import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { isValidZone, machineZone } from '../../src/config/time-zones.js';

/** What Intl itself answers, the way every zone was checked before. */
function intlAccepts(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

describe('isValidZone', () => {
  it('answers exactly as Intl.DateTimeFormat does, for canonical names, links, UTC spellings and mistakes', () => {
    const names = [
      ...Intl.supportedValuesOf('timeZone'),
      'UTC', 'Etc/UTC', 'UCT', 'GMT', 'Etc/GMT', 'GMT0', 'GMT+0', 'GMT-0', 'Etc/GMT+0', 'Universal', 'Zulu', 'Greenwich', 'Etc/Greenwich',
      'Etc/GMT+5', 'Etc/GMT-14', 'US/Eastern', 'Asia/Kolkata', 'Europe/Kyiv', 'europe/berlin', 'utc',
      '', ' ', 'Europe/Berln', 'Mars/Olympus', 'UTC+1', 'Etc/GMT+15', 'local', '../etc/passwd', 'Europe/Berlin\n',
    ];
    const disagreements = names.filter((z) => isValidZone(z) !== intlAccepts(z));
    expect(disagreements).toEqual([]);
    expect(isValidZone('Europe/Berlin')).toBe(true);
    expect(isValidZone('Europe/Berln')).toBe(false);
  });
});

describe('machineZone', () => {
  /** The zone a fresh Node process reports for itself with this TZ. */
  const intlZoneWith = (tz: string | undefined) => {
    const env = { ...process.env };
    if (tz === undefined) delete env.TZ;
    else env.TZ = tz;
    return execFileSync(process.execPath, ['-e', 'process.stdout.write(String(Intl.DateTimeFormat().resolvedOptions().timeZone))'], { env, encoding: 'utf8' });
  };

  it('is what Intl reports in a process started with that TZ: canonical names, UTC spellings, links', () => {
    const module = path.join(import.meta.dirname, '../../src/config/time-zones.ts');
    const script = `import(${JSON.stringify(module)}).then((m) => process.stdout.write(JSON.stringify([m.machineZone(), Intl.DateTimeFormat().resolvedOptions().timeZone])))`;
    for (const tz of ['Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'Etc/UTC', 'UTC', 'GMT', 'US/Eastern', ':Europe/Paris']) {
      const [ours, intl] = JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '-e', script], { env: { ...process.env, TZ: tz }, encoding: 'utf8' })) as [string, string];
      expect({ tz, zone: ours }).toEqual({ tz, zone: intl });
    }
  });

  it('reads the zone /etc/localtime links to when TZ is not set', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'marketer-localtime-'));
    const link = (target: string) => {
      const file = path.join(dir, `localtime-${target.replace(/\W/g, '_')}`);
      symlinkSync(target, file);
      return file;
    };
    expect(machineZone({}, link('/usr/share/zoneinfo/America/Chicago'))).toBe('America/Chicago');
    expect(machineZone({}, link('../usr/share/zoneinfo/Etc/UTC'))).toBe('UTC');
    // A link that names no zone Intl lists leaves the answer to Intl, as before.
    expect(machineZone({}, link('/nowhere/else'))).toBe(intlZoneWith(process.env.TZ));
    expect(machineZone({}, path.join(dir, 'missing'))).toBe(intlZoneWith(process.env.TZ));
  });

  it('takes an empty TZ as UTC, as the C library does', () => {
    expect(machineZone({ TZ: '' })).toBe('UTC');
  });
});
