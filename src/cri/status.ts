/**
 * Berth's typed errors as gRPC statuses. The mapping is the contract kubelet relies on:
 * NotFound for unknown ids, InvalidArgument for bad requests, and so on; anything untyped
 * is INTERNAL with its message kept, so the cause stays visible in kubelet's logs.
 */
import * as grpc from '@grpc/grpc-js';
import { BerthError, errorMessage, type ErrorCode } from '../common/errors.js';

const CODES: Record<ErrorCode, grpc.status> = {
  invalid_argument: grpc.status.INVALID_ARGUMENT,
  not_found: grpc.status.NOT_FOUND,
  already_exists: grpc.status.ALREADY_EXISTS,
  failed_precondition: grpc.status.FAILED_PRECONDITION,
  unavailable: grpc.status.UNAVAILABLE,
  permission_denied: grpc.status.PERMISSION_DENIED,
  unimplemented: grpc.status.UNIMPLEMENTED,
  internal: grpc.status.INTERNAL,
};

/** The gRPC code for an error thrown by the gateway or the backend. */
export function grpcCodeOf(err: unknown): grpc.status {
  if (err instanceof BerthError) return CODES[err.code];
  if (isAbort(err)) return grpc.status.CANCELLED;
  return grpc.status.INTERNAL;
}

function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

/** A ServiceError carrying the mapped code and the original message (prefixed by the RPC name). */
export function toServiceError(rpc: string, err: unknown): grpc.ServiceError {
  const code = grpcCodeOf(err);
  const details = `${rpc}: ${errorMessage(err)}`;
  const serviceError = Object.assign(new Error(details), {
    code,
    details,
    metadata: new grpc.Metadata(),
  });
  return serviceError;
}

/** True for errors that are the caller's fault or expected (logged at debug, not error). */
export function isExpectedStatus(code: grpc.status): boolean {
  return code !== grpc.status.INTERNAL && code !== grpc.status.UNKNOWN;
}
