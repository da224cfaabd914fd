import { describe, expect, it } from 'vitest';
import type { SendOutcome } from '../../../src/sending/mailer.js';
import { afterRefusals, backoffMs, MAX_CLAIMS, sendWithRetry } from '../../../src/sending/policy/retry.js';

const throttled: SendOutcome = { kind: 'retry', error: 'TooManyRequestsException: slow down', throttled: true };
const serverError: SendOutcome = { kind: 'retry', error: 'InternalFailure: oops', throttled: false };

function hooks(signal = new AbortController().signal) {
  const log: string[] = [];
  return {
    log,
    hooks: {
      onRefused: (o: Extract<SendOutcome, { kind: 'retry' }>) => log.push(`refused ${o.throttled ? 'throttled' : 'server'}`),
      pace: async () => { log.push('pace'); },
      sleep: async (ms: number) => { log.push(`sleep ${ms}`); },
      signal,
      random: () => 1,
    },
  };
}

describe('retry and backoff', () => {
  it('backs off exponentially with full jitter, capped at 10 s', () => {
    expect([1, 2, 3, 4].map((a) => backoffMs(a, () => 1))).toEqual([100, 200, 400, 800]);
    expect(backoffMs(20, () => 1)).toBe(10_000);
    expect(backoffMs(3, () => 0.5)).toBe(200);
  });

  it('retries refusals, pacing each new attempt, until SES accepts', async () => {
    const answers: SendOutcome[] = [throttled, serverError, { kind: 'sent', messageId: 'm-1' }];
    const { log, hooks: h } = hooks();
    const outcome = await sendWithRetry(async () => answers.shift()!, 8, h);
    expect(outcome).toEqual({ kind: 'sent', messageId: 'm-1' });
    expect(log).toEqual(['refused throttled', 'sleep 100', 'pace', 'refused server', 'sleep 200', 'pace']);
  });

  it('never retries an outcome that may have been accepted, or a final refusal', async () => {
    for (const final of [{ kind: 'unknown', error: 'timeout' }, { kind: 'failed', error: 'MessageRejected' }, { kind: 'fatal', error: 'SendingPausedException' }] as SendOutcome[]) {
      let calls = 0;
      const { log, hooks: h } = hooks();
      expect(await sendWithRetry(async () => { calls += 1; return final; }, 8, h)).toEqual(final);
      expect(calls).toBe(1);
      expect(log).toEqual([]);
    }
  });

  it('stops after maxAttempts, and at once when the run is stopping', async () => {
    let calls = 0;
    const { hooks: h } = hooks();
    expect(await sendWithRetry(async () => { calls += 1; return throttled; }, 3, h)).toEqual(throttled);
    expect(calls).toBe(3);
    const stop = new AbortController();
    stop.abort();
    calls = 0;
    const { log, hooks: h2 } = hooks(stop.signal);
    await sendWithRetry(async () => { calls += 1; return serverError; }, 8, h2);
    expect(calls).toBe(1);
    expect(log).toEqual(['refused server']);
  });

  it('after every attempt was refused: throttled rows go straight back, server errors wait longer each round, then fail', () => {
    expect(afterRefusals('1', 3, throttled)).toEqual({ id: '1', status: 'queued', error: throttled.error });
    expect(afterRefusals('1', 1, serverError)).toEqual({ id: '1', status: 'queued', error: serverError.error, retryAfterSeconds: 0 });
    expect(afterRefusals('1', 3, serverError)).toEqual({ id: '1', status: 'queued', error: serverError.error, retryAfterSeconds: 120 });
    expect(afterRefusals('1', MAX_CLAIMS, serverError)).toEqual({ id: '1', status: 'failed', error: `gave up after ${MAX_CLAIMS} rounds of retries: ${serverError.error}` });
  });
});
