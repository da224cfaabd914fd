import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/config.js';
import { MarketerError } from '../src/errors.js';

function dirWith(yaml: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'marketer-config-'));
  writeFileSync(path.join(dir, 'marketer.yaml'), yaml);
  return dir;
}

describe('config', () => {
  it('reads marketer.yaml and lets MARKETER_<KEY> win over it', () => {
    const cwd = dirWith('transport: ses\nconcurrency: 4\nfrom: "News <news@example.com>"\nlist_management:\n  contact_list: main\n  topic: weekly\n');
    const config = loadConfig({ cwd, env: { MARKETER_CONCURRENCY: '32' } });
    expect(config.transport).toBe('ses');
    expect(config.concurrency).toBe(32);
    expect(config.from).toBe('News <news@example.com>');
    expect(config.listManagement).toEqual({ contactList: 'main', topic: 'weekly' });
    expect(config.root).toBe(cwd);
    expect(config.dataDir).toBe(path.join(cwd, '.marketer'));
  });

  it('reads the circuit-breaker limits, with the SES review thresholds as defaults', () => {
    expect(loadConfig({ cwd: dirWith(''), env: {} }).breakers).toEqual({ maxBounceRate: 0.05, maxComplaintRate: 0.001, minSample: 200 });
    const cwd = dirWith('max_bounce_rate: 0.02\nmin_rate_sample: 500\n');
    expect(loadConfig({ cwd, env: { MARKETER_MAX_COMPLAINT_RATE: '0.0005' } }).breakers).toEqual({ maxBounceRate: 0.02, maxComplaintRate: 0.0005, minSample: 500 });
    expect(() => loadConfig({ cwd: dirWith('max_bounce_rate: 5\n'), env: {} })).toThrow(MarketerError);
  });

  it('names the key, file and line of every bad value, all at once', () => {
    const cwd = dirWith('transport: pigeon\nconcurrency: lots\ncolour: blue\n');
    let caught: unknown;
    try {
      loadConfig({ cwd, env: {} });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(MarketerError);
    const err = caught as MarketerError;
    expect(err.exitCode).toBe(2);
    const text = err.details.join('\n');
    expect(text).toContain(`${path.join(cwd, 'marketer.yaml')}:1:1: "transport" must be one of ses, outbox`);
    expect(text).toContain(':2:1: "concurrency" must be a whole number');
    expect(text).toContain(':3:1: unknown key "colour"');
  });

  it('reads timescale (auto, off or require) from the file or MARKETER_TIMESCALE, auto by default', () => {
    expect(loadConfig({ cwd: dirWith(''), env: {} }).timescale).toBe('auto');
    expect(loadConfig({ cwd: dirWith('timescale: require\n'), env: {} }).timescale).toBe('require');
    expect(loadConfig({ cwd: dirWith('timescale: require\n'), env: { MARKETER_TIMESCALE: 'off' } }).timescale).toBe('off');
    expect(() => loadConfig({ cwd: dirWith('timescale: yes\n'), env: {} })).toThrow(MarketerError);
    try {
      loadConfig({ cwd: dirWith('timescale: yes\n'), env: {} });
    } catch (err) {
      expect((err as MarketerError).details.join('\n')).toContain('"timescale" must be one of auto, off, require');
    }
  });

  it('refuses secrets in the file and takes them from the environment', () => {
    expect(() => loadConfig({ cwd: dirWith('unsubscribe_secret: hunter2\n'), env: {} })).toThrow(MarketerError);
    const config = loadConfig({ cwd: dirWith(''), env: { MARKETER_UNSUBSCRIBE_SECRET: 's3cret', DATABASE_URL: 'postgres://x/y' } });
    expect(config.unsubscribeSecret).toBe('s3cret');
    expect(config.databaseUrl).toBe('postgres://x/y');
  });

  it('reports a bad value from the environment by its variable name', () => {
    expect(() => loadConfig({ cwd: dirWith(''), env: { MARKETER_RATE: '-3' } })).toThrow(MarketerError);
    try {
      loadConfig({ cwd: dirWith(''), env: { MARKETER_RATE: '-3' } });
    } catch (err) {
      expect((err as MarketerError).details[0]).toContain('environment variable MARKETER_RATE: "rate" must be at least 0.01');
    }
  });
});
