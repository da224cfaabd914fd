import { describe, expect, it } from 'vitest';
import { formatCount, formatDuration, formatNumber, formatRate, plural, sparkline } from '../../src/cli/format.js';
import { layoutHelp } from '../../src/cli/help-layout.js';
import { runCli } from '../helpers/cli.js';

const COMMANDS = [[], ['init'], ['import'], ['validate'], ['preview'], ['plan'], ['send'], ['dispatch'], ['events'], ['events', 'pull'], ['events', 'ingest'], ['events', 'recount'], ['stats'], ['report'], ['serve'], ['db'], ['db', 'migrate']];
const tooWide = (text: string, width: number) => text.split('\n').filter((l) => [...l].length > width);

describe('at 80 columns', () => {
  it('every command\'s help fits, with no word broken in two', async () => {
    const results = [];
    for (const c of COMMANDS) results.push(await runCli([...c, '--help'], { env: { COLUMNS: '80' }, timeoutMs: 110_000 }));
    for (const [i, r] of results.entries()) {
      expect(r.code, COMMANDS[i]!.join(' ')).toBe(0);
      expect(tooWide(r.stdout, 80), `marketer ${COMMANDS[i]!.join(' ')} --help`).toEqual([]);
    }
    // The overall help's configuration note was hand-wrapped at 95 columns and broke mid-line.
    expect(results[0]!.stdout).toContain('Configuration: ./marketer.yaml, every key also as MARKETER_<KEY>; DATABASE_URL\nselects your Postgres');
  }, 600_000);

  it('help shown after a usage error fits too, on stderr', async () => {
    const r = await runCli(['help', 'stat'], { env: { COLUMNS: '80' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Usage: marketer [options] [command]');
    expect(tooWide(r.stderr, 80)).toEqual([]);
    expect(r.stderr).toContain('Configuration: ./marketer.yaml, every key also as MARKETER_<KEY>; DATABASE_URL\nselects your Postgres');
  });

  it('help for a subcommand by its full name: help db migrate is db migrate --help', async () => {
    const [viaHelp, viaOption] = [await runCli(['help', 'db', 'migrate'], { env: { COLUMNS: '80' } }), await runCli(['db', 'migrate', '--help'], { env: { COLUMNS: '80' } })];
    expect(viaHelp.code).toBe(0);
    expect(viaHelp.stdout).toMatch(/^Usage: marketer db migrate/);
    expect(viaHelp.stdout).toBe(viaOption.stdout);
  });

  it('wider terminals get longer lines', async () => {
    const r = await runCli(['--help'], { env: { COLUMNS: '100' } });
    expect(tooWide(r.stdout, 100)).toEqual([]);
    expect(r.stdout.split('\n').some((l) => l.length > 80)).toBe(true);
  });
});

describe('help layout', () => {
  it('rewraps prose, hangs long reference lines under their description, and breaks examples outside quotes', () => {
    const text = [
      'A paragraph that was wrapped by hand at',
      'a different width goes back together.',
      '',
      'Reference:',
      '  name: value                  a description long enough that it has to wrap onto a second line',
      '',
      "  $ marketer plan campaigns/weekly.yaml --json | jq '.waves[] | [.fire_at, .count]' --and-more-flags",
    ].join('\n');
    expect(layoutHelp(text, 60)).toBe([
      'A paragraph that was wrapped by hand at a different width',
      'goes back together.',
      '',
      'Reference:',
      '  name: value                  a description long enough',
      '                               that it has to wrap onto a',
      '                               second line',
      '',
      '  $ marketer plan campaigns/weekly.yaml --json | jq \\',
      "      '.waves[] | [.fire_at, .count]' --and-more-flags",
    ].join('\n'));
  });
});

describe('numbers and plurals, one way everywhere', () => {
  it('formats', () => {
    expect([plural(1, 'row'), plural(2, 'row'), plural(1234, 'delivery'), plural(1, 'delivery'), plural(3, 'match')]).toEqual(['1 row', '2 rows', '1,234 deliveries', '1 delivery', '3 matches']);
    expect([formatNumber(1234567), formatCount(99_999), formatCount(250_400), formatCount(1_250_000)]).toEqual(['1,234,567', '99,999', '250k', '1.3M']);
    expect([formatRate(0.5), formatRate(1234.4), formatDuration(42), formatDuration(185), formatDuration(7260), formatDuration(90_000)]).toEqual(['0.5/s', '1,234/s', '42s', '3m 05s', '2h 01m', '1d 01h']);
    expect(sparkline([0, 1, 2, 4, 8])).toBe('·▁▂▄█');
  });
});
