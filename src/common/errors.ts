/**
 * Typed errors that carry a stable code, so the API, the CLI and the CRI gateway
 * can map them to exit codes, HTTP statuses and gRPC codes without parsing messages.
 * Messages name the problem in words a user can act on.
 */
export type ErrorCode =
  | 'invalid_argument'
  | 'not_found'
  | 'already_exists'
  | 'failed_precondition'
  | 'unavailable'
  | 'permission_denied'
  | 'unimplemented'
  | 'internal';

export class BerthError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The request is malformed or names something impossible: retrying cannot help. */
export class InvalidArgumentError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('invalid_argument', message, options);
  }
}

export class NotFoundError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('not_found', message, options);
  }
}

export class AlreadyExistsError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('already_exists', message, options);
  }
}

/** The system is not in a state where the operation can run (e.g. the root is locked by another daemon). */
export class FailedPreconditionError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('failed_precondition', message, options);
  }
}

/** A dependency (Temporal, NATS, a registry) cannot be reached; retrying later may help. */
export class UnavailableError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unavailable', message, options);
  }
}

export class UnimplementedError extends BerthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('unimplemented', message, options);
  }
}

/** True for errors caused by the caller's input: these must never be retried. */
export function isBadInput(err: unknown): boolean {
  return err instanceof BerthError && (err.code === 'invalid_argument' || err.code === 'not_found');
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
