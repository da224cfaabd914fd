import { describe, expect, it } from 'vitest';
import { failureReason } from '../../src/db/enable-timescale.js';
import { timescaleRequired, timescaleWarning } from '../../src/db/timescale-state.js';

describe('what a user is told about TimescaleDB', () => {
  it('says nothing where email_events is a hypertable, plain by choice, or the server has no extension', () => {
    expect(timescaleWarning({ status: 'hypertable', version: '2.17.0' })).toBeUndefined();
    expect(timescaleWarning({ status: 'off' })).toBeUndefined();
    expect(timescaleWarning({ status: 'absent' })).toBeUndefined();
    expect(timescaleRequired({ status: 'hypertable', version: '2.17.0' })).toBeUndefined();
    expect(timescaleRequired({ status: 'off' })).toBeUndefined();
  });

  it('gives the fix that matches why the extension could not be used', () => {
    const preload = timescaleWarning({ status: 'unusable', version: '2.17.0', reason: 'extension "timescaledb" must be preloaded' });
    expect(preload).toContain('add timescaledb to shared_preload_libraries in postgresql.conf, restart Postgres and run `marketer db migrate`');
    const ended = failureReason(Object.assign(new Error('Connection terminated unexpectedly'), {}));
    expect(ended).toBe('the server ended the connection while loading it: Connection terminated unexpectedly');
    expect(timescaleWarning({ status: 'unusable', version: '2.17.0', reason: ended })).toContain('shared_preload_libraries');
    const denied = timescaleRequired({ status: 'unusable', version: '2.17.0', reason: 'permission denied to create extension "timescaledb"' });
    expect(denied?.message).toContain('run `marketer db migrate` as a user who may create extensions');
    expect(denied?.exitCode).toBe(2);
    expect(denied?.hint).toBeUndefined();
    const broken = timescaleWarning({ status: 'unusable', version: '2.17.0', reason: 'could not access file "$libdir/timescaledb-2.17.0": No such file or directory' });
    expect(broken).toContain("repair the server's TimescaleDB installation");
  });

  it('keeps a reason to one line of bounded length', () => {
    const reason = failureReason(new Error(`first line\n${'x'.repeat(1000)}`));
    expect(reason).not.toContain('\n');
    expect(reason.length).toBeLessThanOrEqual(300);
  });
});
