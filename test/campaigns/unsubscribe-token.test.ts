import { describe, expect, it } from 'vitest';
import { signUnsubscribeToken, unsubscribeUrl, verifyUnsubscribeToken } from '../../src/campaigns/index.js';

describe('unsubscribe tokens', () => {
  const claims = { subscriberId: '9007199254740993', campaignId: 42 };

  it('round-trips subscriber and campaign ids (bigint-sized ids stay exact)', () => {
    const token = signUnsubscribeToken('s3cret', claims);
    expect(token).toMatch(/^9007199254740993\.42\.[A-Za-z0-9_-]{22}$/);
    expect(verifyUnsubscribeToken('s3cret', token)).toEqual(claims);
  });

  it('rejects a tampered id, a tampered MAC, another secret and junk', () => {
    const token = signUnsubscribeToken('s3cret', claims);
    const [, , mac = ''] = token.split('.');
    expect(verifyUnsubscribeToken('s3cret', `9007199254740994.42.${mac}`)).toBeUndefined();
    expect(verifyUnsubscribeToken('s3cret', `9007199254740993.43.${mac}`)).toBeUndefined();
    const flipped = `${mac.slice(0, -1)}${mac.endsWith('A') ? 'B' : 'A'}`;
    expect(verifyUnsubscribeToken('s3cret', `9007199254740993.42.${flipped}`)).toBeUndefined();
    expect(verifyUnsubscribeToken('other', token)).toBeUndefined();
    expect(verifyUnsubscribeToken('s3cret', 'jane@example.com')).toBeUndefined();
    expect(verifyUnsubscribeToken('s3cret', `${token}x`)).toBeUndefined();
  });

  it('builds the one-click URL without the address and with one slash', () => {
    expect(unsubscribeUrl('https://mail.example.com/u/', 's3cret', claims)).toBe(`https://mail.example.com/u/${signUnsubscribeToken('s3cret', claims)}`);
  });
});
