/**
 * Conventions every transition workflow shares: activity timeouts and retry policies, and which
 * failures are never retried (those caused by bad input: retrying cannot make them succeed).
 * Deterministic code only: this file is part of the workflow bundle.
 */
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';

/** BerthError codes (src/common/errors.ts) an activity reports as non-retryable ApplicationFailure types. */
export const NON_RETRYABLE_ERROR_TYPES = [
  'invalid_argument',
  'not_found',
  'already_exists',
  'failed_precondition',
  'permission_denied',
  'unimplemented',
];

/** A short step (a syscall or a few): a dead worker is noticed after 10 s and the step retried. */
export const SHORT_STEP: ActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: {
    initialInterval: '100 milliseconds',
    backoffCoefficient: 2,
    maximumInterval: '5 seconds',
    nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES,
  },
};

/** A long step (download, unpack) heartbeats; a dead worker is noticed within the heartbeat timeout. */
export const LONG_STEP: ActivityOptions = {
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '30 seconds',
  retry: SHORT_STEP.retry,
};

/** A local activity: runs in the workflow's own worker without a round trip through the server. */
export const LOCAL_STEP: LocalActivityOptions = {
  startToCloseTimeout: '10 seconds',
  localRetryThreshold: '10 seconds',
  retry: SHORT_STEP.retry,
};
