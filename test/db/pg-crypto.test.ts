import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as ours from '../../src/db/pg-crypto.js';
import { REPO } from '../helpers/cli.js';

// pg's own module, by its file (pg's package exports do not list it).
const theirs = createRequire(import.meta.url)(path.join(REPO, 'node_modules', 'pg', 'lib', 'crypto', 'utils.js')) as typeof ours;
const hex = (b: ArrayBuffer | Uint8Array) => Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b).toString('hex');

describe("pg's authentication crypto on node:crypto", () => {
  it('gives the bytes pg\'s WebCrypto version gives, for every function SCRAM and MD5 use', async () => {
    const salts = [Buffer.from('c2FsdHNhbHQ=', 'base64'), Buffer.alloc(16, 0xff), Buffer.from('0123456789abcdef0123')];
    const passwords = ['', 'secret', 'pässwörd ✓', 'x'.repeat(300)];
    for (const password of passwords) {
      for (const salt of salts) {
        for (const iterations of [1, 4096]) {
          expect(hex(await ours.deriveKey(password, salt, iterations)), `${password} ${iterations}`).toBe(hex(await theirs.deriveKey(password, salt, iterations)));
        }
      }
    }
    const key = await theirs.deriveKey('secret', salts[0]!, 4096);
    for (const message of ['Client Key', 'Server Key', 'n=*,r=abc,r=abcdef,s=c2FsdA==,i=4096,c=biws,r=abcdef', 'ü']) {
      expect(hex(await ours.hmacSha256(key, message))).toBe(hex(await theirs.hmacSha256(key, message)));
      expect(hex(await ours.hmacSha256(Buffer.from(key), message))).toBe(hex(await theirs.hmacSha256(key, message)));
    }
    const data = Buffer.from('the client key');
    expect(hex(await ours.sha256(data))).toBe(hex(await theirs.sha256(data)));
    expect(hex(await ours.sha256(new Uint8Array(data).buffer))).toBe(hex(await theirs.sha256(data)));
    for (const name of ['SHA-256', 'SHA-384', 'SHA-512']) expect(hex(await ours.hashByName(name, data)), name).toBe(hex(await theirs.hashByName(name, data)));
    expect(await ours.postgresMd5PasswordHash('marketer', 'secret', Buffer.from([1, 2, 3, 4]))).toBe(await theirs.postgresMd5PasswordHash('marketer', 'secret', Buffer.from([1, 2, 3, 4])));
    expect(await ours.md5('ü')).toBe(await theirs.md5('ü'));
    const nonce = ours.randomBytes(18);
    expect(nonce).toHaveLength(18);
    expect(nonce.equals(ours.randomBytes(18))).toBe(false);
  });

  it('exports what pg\'s module exports, so the bundle\'s pg finds every function it calls', () => {
    expect(Object.keys(ours).sort()).toEqual(Object.keys(theirs).sort());
  });
});
