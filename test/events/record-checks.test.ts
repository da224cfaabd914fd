import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainRecordText, readEventTime, unstorableRecord } from '../../src/events/check-record.js';
import { isMalformed, parseSesRecord } from '../../src/events/parse-ses-event.js';
import { sqlArray } from '../../src/db/sql-array.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

const NOW = Date.parse('2026-12-01T12:00:00.000Z');

describe('event times', () => {
  it('reads the form SES writes exactly, and refuses what the calendar or the window refuses', () => {
    const ok = (v: string) => new Date((readEventTime(v, NOW) as { timeMs: number }).timeMs).toISOString();
    expect(ok('2026-12-01T08:00:05.123Z')).toBe('2026-12-01T08:00:05.123Z');
    expect(ok('2024-02-29T23:59:59.999Z')).toBe('2024-02-29T23:59:59.999Z');
    expect(ok('2000-01-01T00:00:00.000Z')).toBe('2000-01-01T00:00:00.000Z');
    // Other ISO 8601 forms still go through the general reader.
    expect(ok('2026-12-01T09:00:05+01:00')).toBe('2026-12-01T08:00:05.000Z');
    expect(ok('2026-12-01t08:00:05.123z')).toBe('2026-12-01T08:00:05.123Z');
    expect(readEventTime('2023-02-29T00:00:00.000Z', NOW)).toMatch(/not a real time/);
    expect(readEventTime('2026-04-31T00:00:00.000Z', NOW)).toMatch(/not a real time/);
    expect(readEventTime('2026-13-01T00:00:00.000Z', NOW)).toMatch(/not a real time/);
    expect(readEventTime('1999-12-31T23:59:59.999Z', NOW)).toMatch(/before 2000/);
    expect(readEventTime('0099-12-31T23:59:59.999Z', NOW)).toMatch(/before 2000/);
    expect(readEventTime('2026-12-02T12:00:00.001Z', NOW)).toMatch(/more than a day in the future/);
    expect(readEventTime('2026-12-01T08:00:05.12XZ', NOW)).toMatch(/not an ISO 8601 time/);
    expect(readEventTime(1, NOW)).toMatch(/not an ISO 8601 time/);
  });

  it('sends every event time to Postgres as toISOString writes it, whatever form SES used', () => {
    for (const v of ['2026-12-01T08:00:05.123Z', '2026-12-01T09:00:05+01:00', '2026-12-01t08:00:05.123z', '2026-12-01T08:00:05.1Z', '2026-12-01T08:00:05Z', '2026-12-01T10:00:05.123+0200']) {
      const e = parseSesRecord({ position: 'x', snsMessageId: undefined, record: { eventType: 'Open', mail: { messageId: 'm-1', timestamp: v }, open: { timestamp: v } } }, NOW);
      if (isMalformed(e)) throw new Error(e.reason);
      expect(e.iso).toBe(new Date(e.timeMs).toISOString());
    }
  });
});

describe('recipients and opt-outs', () => {
  const parse = (record: Record<string, unknown>) => {
    const e = parseSesRecord({ position: 'x', snsMessageId: undefined, record }, NOW);
    if (isMalformed(e)) throw new Error(e.reason);
    return e;
  };
  const mail = (to: string) => ({ messageId: 'm-1', timestamp: '2026-12-01T08:00:00.000Z', destination: [to] });

  it('takes the address out of a display name, and a bare one as it is', () => {
    expect(parse({ eventType: 'Send', mail: mail('"Ann Example" <ann@example.com>') }).recipient).toBe('ann@example.com');
    expect(parse({ eventType: 'Send', mail: mail(' ann@example.com ') }).recipient).toBe('ann@example.com');
    expect(parse({ eventType: 'Send', mail: mail('Ann <ann@example.com> ') }).recipient).toBe('ann@example.com');
    const bounce = { bounceType: 'Permanent', bounceSubType: 'General', bouncedRecipients: [{ emailAddress: 'Bob <bob@example.com>' }], timestamp: '2026-12-01T08:00:01.000Z' };
    expect(parse({ eventType: 'Bounce', mail: mail('x@example.com'), bounce }).recipient).toBe('bob@example.com');
  });

  it('gives each Subscription event its own opted-out topics, and every other event none', () => {
    const sub = (topics: string[]) => parse({
      eventType: 'Subscription', mail: mail('ann@example.com'),
      subscription: { timestamp: '2026-12-01T08:00:01.000Z', newTopicPreferences: { topicSubscriptionStatus: topics.map((topicName) => ({ topicName, subscriptionStatus: 'OptOut' })) } },
    });
    const a = sub(['news']);
    const b = sub(['offers', 'news']);
    expect([a.optedOutTopics, b.optedOutTopics]).toEqual([['news'], ['offers', 'news']]);
    expect(parse({ eventType: 'Send', mail: mail('ann@example.com') }).optedOutTopics).toEqual([]);
  });
});

describe('plain record text', () => {
  it('lets only text that cannot hold an unstorable value skip the walk', () => {
    const record = { eventType: 'Open', mail: { messageId: 'm', tags: { campaign: ['7'] } }, open: { timestamp: '2026-12-01T08:00:05.123Z' } };
    expect(plainRecordText(JSON.stringify(record))).toBe(true);
    // Every way JSON.parse can make a NUL or a lone surrogate goes through a \u escape.
    for (const bad of ['x\u0000y', '\ud800', 'caf\u00e9\u0001']) {
      const text = JSON.stringify({ ...record, note: bad });
      expect(plainRecordText(text)).toBe(false);
    }
    expect(unstorableRecord(JSON.parse(JSON.stringify({ ...record, note: 'x\u0000y' })))).toMatch(/NUL character/);
    // Nesting deeper than the walk allows is found by the walk, not skipped.
    let deep: unknown = 'x';
    for (let i = 0; i < 40; i += 1) deep = [deep];
    const text = JSON.stringify({ ...record, deep });
    expect(plainRecordText(text)).toBe(false);
    expect(unstorableRecord(JSON.parse(text))).toMatch(/nested deeper than 32 levels/);
    expect(plainRecordText(JSON.stringify({ ...record, big: 'x'.repeat(300 * 1024) }))).toBe(false);
  });
});

describe('sqlArray', () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await createTestDb();
  });
  afterAll(async () => {
    await t?.close();
  });

  it('sends every string, null and number to Postgres as it was', async () => {
    const strings = ['plain', '', 'NULL', 'null', 'a "quoted" word', 'back\\slash', 'back\\\\two', 'brace {x}, comma', ' spaced ', 'tab\there', 'line\nbreak', 'ctl\u0001', 'é ü 漢字 🙂', null, '\\"', '"\\'];
    // Quotes, braces, spaces, backslashes, non-ASCII, empty strings and NULL take the JSON path;
    // a control character sends the column element by element.
    const fast = strings.filter((s) => s === null || !/[\u0000-\u001f]/.test(s));
    expect(fast.length).toBeGreaterThan(8);
    expect(typeof sqlArray(fast)).toBe('string');
    expect(typeof sqlArray(strings)).not.toBe('string');
    // A backslash before a letter, a quote or another backslash: JSON writes each as \\.
    const backslashes = ['back\\slash', 'back\\\\two', '\\n', '\\"', '"\\', 'end\\'];
    expect(typeof sqlArray(backslashes)).toBe('string');
    for (const values of [strings, fast, backslashes, [], [null]]) {
      const r = await sql<{ a: (string | null)[] }>`SELECT ${sqlArray(values)}::text[] AS a`.execute(t.db);
      expect(r.rows[0]!.a).toEqual(values);
    }
    const numbers = [1, null, 2147483647, -5, 0];
    const n = await sql<{ a: (number | null)[] }>`SELECT ${sqlArray(numbers)}::int[] AS a`.execute(t.db);
    expect(n.rows[0]!.a).toEqual(numbers);
    const ids = ['9007199254740993', null];
    const b = await sql<{ a: string[] }>`SELECT ${sqlArray(ids)}::bigint[]::text[] AS a`.execute(t.db);
    expect(b.rows[0]!.a).toEqual(ids);
  });
});
