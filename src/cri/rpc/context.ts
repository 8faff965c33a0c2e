/** What every RPC handler receives, and the handler shapes the server wraps. */
import { NotFoundError } from '../../common/errors.js';
import type { CallContext, CriBackend } from '../backend.js';

export interface RpcContext {
  backend: CriBackend;
  /** The client's cancellation and deadline, passed on to the backend. */
  call: CallContext;
  /** Berth's version (package.json), reported by Version. */
  runtimeVersion: string;
}

/** A unary RPC: validate, convert, call the backend, convert back. Throws typed errors. */
export type UnaryRpc<Req, Res> = (request: Req, ctx: RpcContext) => Promise<Res>;

/** A server-streaming RPC: every yielded message is written to the client in order. */
export type StreamRpc<Req, Res> = (request: Req, ctx: RpcContext) => AsyncIterable<Res> | Iterable<Res>;

/**
 * Runs a removal/stop whose target may already be gone: CRI requires these to be idempotent,
 * so NotFound is success (kubelet retries them and calls them on objects it removed itself).
 */
export async function ignoreNotFound(work: Promise<void>): Promise<void> {
  try {
    await work;
  } catch (err) {
    if (err instanceof NotFoundError) return;
    throw err;
  }
}

/** Splits a list into stream messages of at most `size` items; no message for an empty list. */
export function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/** Items per message of the Stream* list RPCs: well under gRPC's 4 MiB default message size. */
export const STREAM_CHUNK = 256;
