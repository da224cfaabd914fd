import { afterEach } from 'vitest';
import { killLiveChildren } from './helpers/cli.js';

// A CLI process still running when its test ends (the test timed out or failed before waiting
// for it) is stopped here, so it cannot write into the next test's database or SES store.
afterEach(() => {
  killLiveChildren();
});
