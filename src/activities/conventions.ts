/**
 * Activity conventions: a BerthError caused by bad input becomes a non-retryable ApplicationFailure
 * whose type is the error's code, so the workflow fails at once and the API can give the user the
 * original message and code; anything else is retried by the workflow's retry policy.
 */
import { ApplicationFailure } from '@temporalio/common';
import { BerthError } from '../common/errors.js';
import { NON_RETRYABLE_ERROR_TYPES } from '../workflows/conventions.js';

type AnyFn = (...args: never[]) => Promise<unknown>;

export function toActivityFailure(err: unknown): unknown {
  if (err instanceof BerthError) {
    return ApplicationFailure.create({
      message: err.message,
      type: err.code,
      nonRetryable: NON_RETRYABLE_ERROR_TYPES.includes(err.code),
      cause: err.cause instanceof Error ? err.cause : undefined,
    });
  }
  return err;
}

/** Wraps every activity so its typed errors cross Temporal with their codes. */
export function withErrorConventions<T extends Record<string, AnyFn>>(activities: T): T {
  const wrapped: Record<string, AnyFn> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args: never[]) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw toActivityFailure(err);
      }
    };
  }
  return wrapped as T;
}
