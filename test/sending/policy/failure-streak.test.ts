import { describe, expect, it } from 'vitest';
import { FailureStreak } from '../../../src/sending/policy/failure-streak.js';

describe('the failure-streak pause rule', () => {
  it('pauses a campaign once, after the limit of failures in a row, naming the last error', () => {
    const streak = new FailureStreak(3);
    expect(streak.failed(7, 'a')).toBeUndefined();
    expect(streak.failed(7, 'b')).toBeUndefined();
    expect(streak.failed(7, 'MessageRejected: no')).toBe('3 sends in a row failed; last error: MessageRejected: no');
    expect(streak.failed(7, 'again')).toBeUndefined();
  });

  it('a sent message resets the streak, and campaigns keep their own', () => {
    const streak = new FailureStreak(2);
    expect(streak.failed(1, 'x')).toBeUndefined();
    streak.sent(1);
    expect(streak.failed(1, 'x')).toBeUndefined();
    expect(streak.failed(2, 'y')).toBeUndefined();
    expect(streak.failed(1, 'x')).toBe('2 sends in a row failed; last error: x');
    expect(streak.failed(2, 'y')).toBe('2 sends in a row failed; last error: y');
  });
});
