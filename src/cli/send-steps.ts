/**
 * The steps of `marketer send` (and dispatch, apply) after its campaigns are compiled, in one
 * module that commands/send.ts imports when it gets there (see there).
 */
export { gateAccount } from './account-gate.js';
export { dispatchProgress } from './dispatch-progress.js';
export { onInterrupt } from './interrupt.js';
export { pullWhileSending } from './pull-while-sending.js';
export { preflightSend, rateFor } from './sender-preflight.js';
export { testState } from '../experiments/variant-stats.js';
export { dispatch } from '../sending/dispatch.js';
export { enqueueDeliveries, recordCampaign } from '../sending/enqueue.js';
export { campaignCounts } from '../sending/ledger.js';
export { resetBreakers } from '../sending/policy/circuit-breaker.js';
