import type { RenderRecipient } from './types.js';

/** Stands in for a subscriber in `validate` and `preview --sample`. Id 0 is never a real row. */
export const SAMPLE_RECIPIENT: RenderRecipient = Object.freeze({
  subscriberId: '0',
  email: 'ada@example.com',
  first_name: 'Ada',
  last_name: 'Lovelace',
  timezone: 'Europe/London',
  attributes: Object.freeze({ plan: 'pro', company: 'Analytical Engines Ltd', city: 'London' }),
});
