import { createHash, createHmac, pbkdf2, randomBytes as nodeRandomBytes } from 'node:crypto';

/**
 * What pg's SCRAM and MD5 authentication asks of crypto (pg/lib/crypto/utils.js), on node:crypto:
 * the bundled CLI uses this in place of pg's module (scripts/bundle.mjs). pg's own goes through
 * WebCrypto, whose first use in a process loads Node's WebCrypto modules and passes each step
 * through a promise job: 20–30 ms of a command's connection on this machine, for the 1 ms that
 * PBKDF2 itself takes. Same inputs, same bytes (test/db/pg-crypto.test.ts compares the two).
 */

type Bytes = ArrayBuffer | Uint8Array;
const bytes = (b: Bytes | string) => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b instanceof ArrayBuffer ? new Uint8Array(b) : b));

export function randomBytes(length: number): Buffer {
  return nodeRandomBytes(length);
}

export async function md5(text: string | Uint8Array): Promise<string> {
  return createHash('md5').update(typeof text === 'string' ? Buffer.from(text, 'utf8') : text).digest('hex');
}

/** AuthenticationMD5Password: "md5" + md5(md5(password + user) + salt). */
export async function postgresMd5PasswordHash(user: string, password: string, salt: Uint8Array): Promise<string> {
  const inner = await md5(password + user);
  return `md5${await md5(Buffer.concat([Buffer.from(inner), salt]))}`;
}

export async function sha256(data: Bytes): Promise<Buffer> {
  return createHash('sha256').update(bytes(data)).digest();
}

/** A digest by its WebCrypto name (SHA-256, SHA-384, SHA-512), for channel binding. */
export async function hashByName(hashName: string, data: Bytes): Promise<Buffer> {
  return createHash(hashName.replace('-', '').toLowerCase()).update(bytes(data)).digest();
}

export async function hmacSha256(key: Bytes, message: string): Promise<Buffer> {
  return createHmac('sha256', bytes(key)).update(message, 'utf8').digest();
}

/** PBKDF2-HMAC-SHA-256, 32 bytes, off the main thread as WebCrypto's is. */
export function deriveKey(password: string, salt: Uint8Array, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256', (err, key) => (err ? reject(err) : resolve(key)));
  });
}
