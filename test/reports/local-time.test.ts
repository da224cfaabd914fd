import { sql } from 'kysely';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isoWithOffset, localTextSql, monthDayTime, offsetMinutesSql, weekdayMonthDay } from '../../src/reports/local-time.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

// Reports take local times from Postgres's zone rules; they must read exactly as luxon (ICU)
// writes the same instants, across DST changes, odd offsets and the spellings of UTC.
let t: TestDb;
beforeAll(async () => {
  t = await createTestDb();
});
afterAll(async () => {
  await t.close();
});

const ZONES = ['Europe/Berlin', 'America/New_York', 'Asia/Kathmandu', 'America/St_Johns', 'Australia/Lord_Howe', 'Europe/London', 'UTC', 'Etc/UTC', 'GMT', 'Pacific/Chatham'];

describe('local times from Postgres', () => {
  it('match luxon hour by hour through both DST changes of 2026, in zones with odd offsets too', async () => {
    for (const zone of ZONES) {
      // Every hour (and half hour: Lord Howe moves by 30 minutes) from March to April and October to November.
      const { rows } = await sql<{ at: Date; local: string; offset: number }>`
        SELECT at, ${localTextSql(sql`at`, zone)} AS local, ${offsetMinutesSql(sql`at`, zone)} AS offset
        FROM (SELECT generate_series('2026-03-01T00:00:00Z'::timestamptz, '2026-04-15T00:00:00Z', interval '30 minutes') AS at
              UNION ALL SELECT generate_series('2026-09-25T00:00:00Z'::timestamptz, '2026-11-10T00:00:00Z', interval '30 minutes')) s
        ORDER BY at`.execute(t.db);
      const mismatches = rows
        .map((r) => ({ at: r.at.toISOString(), ours: isoWithOffset(r.local, r.offset, zone), luxon: DateTime.fromJSDate(r.at, { zone }).toISO({ suppressMilliseconds: true }) }))
        .filter((m) => m.ours !== m.luxon);
      expect({ zone, mismatches: mismatches.slice(0, 3) }).toEqual({ zone, mismatches: [] });
      // The series crosses real changes (not a zone stuck at one offset).
      if (!['UTC', 'Etc/UTC', 'GMT', 'Asia/Kathmandu'].includes(zone)) expect(new Set(rows.map((r) => r.offset)).size).toBeGreaterThan(1);
    }
  });

  it('labels days and wave times as luxon did in English', () => {
    for (const iso of ['2026-12-01T08:00:00+01:00', '2026-02-28T23:30:00-05:00', '2028-02-29T00:05:00Z', '2026-10-25T01:00:00+00:00']) {
      const dt = DateTime.fromISO(iso, { setZone: true }).setLocale('en-US');
      expect(monthDayTime(iso)).toBe(dt.toFormat('LLL dd HH:mm'));
      expect(weekdayMonthDay(iso)).toBe(dt.toFormat('ccc LLL dd'));
    }
  });
});
