import { keysForSecret } from '../../src/db/address-hash.js';

/** The address-hash secret of every test database and CLI run (cleanEnv sets it). */
export const TEST_HASH_SECRET = 'test-hash-secret';
export const TEST_HASH_KEYS = keysForSecret(TEST_HASH_SECRET);
