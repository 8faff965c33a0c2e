/**
 * Adapts RPC handlers to grpc-js calls: each runs as its caller (the RPC and the connection's
 * peer credentials, src/common/caller.ts), a per-call AbortSignal (client cancel or deadline),
 * typed errors mapped to gRPC statuses, logging, and for server streams, backpressure and
 * shutdown. Streams in flight are tracked so the server can end them when it closes.
 */
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import { withCaller, type CriCaller } from '../common/caller.js';
import { UnavailableError } from '../common/errors.js';
import type { PeerCredentials } from '../common/peer-credentials.js';
import type { Logger } from '../common/logger.js';
import type { CriBackend } from './backend.js';
import type { RpcContext, StreamRpc, UnaryRpc } from './rpc/context.js';
import { isExpectedStatus, toServiceError } from './status.js';

const OK = grpc.status.OK;
const CANCELLED = grpc.status.CANCELLED;
// The enum's reverse mapping: 5 -> 'NOT_FOUND'.
const STATUS_NAMES = grpc.status as unknown as Record<number, string>;

/**
 * Iterates until the source ends or the signal aborts, whichever comes first: a producer that
 * waits for its next event must not keep a cancelled call (or a closing server) alive.
 */
async function* untilAborted<T>(
  source: AsyncIterable<T> | Iterable<T>,
  signal: AbortSignal,
): AsyncGenerator<T> {
  const iterator =
    Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : toAsync(source[Symbol.iterator]());
  const aborted = new Promise<'aborted'>((resolve) => {
    if (signal.aborted) resolve('aborted');
    else signal.addEventListener('abort', () => resolve('aborted'), { once: true });
  });
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next === 'aborted' || next.done) return;
      yield next.value;
    }
  } finally {
    // Not awaited: a generator suspended in next() only returns once that next() settles.
    void iterator.return?.()?.catch(() => undefined);
  }
}

function toAsync<T>(iterator: Iterator<T>): AsyncIterator<T> {
  return { next: async () => iterator.next() };
}

export interface CallWrappers {
  unary<Req, Res>(name: string, rpc: UnaryRpc<Req, Res>): grpc.handleUnaryCall<Req, Res>;
  stream<Req, Res>(name: string, rpc: StreamRpc<Req, Res>): grpc.handleServerStreamingCall<Req, Res>;
}

export interface CallTracker {
  /** Ends every server stream in flight (the server is closing); unary calls keep running. */
  endStreams(): void;
}

/** Told of every call answered: its RPC, gRPC status name (`OK`, `NOT_FOUND`, ...) and duration. */
export type CriCallObserver = (rpc: string, code: string, seconds: number) => void;

export function createCallWrappers(
  backend: CriBackend,
  runtimeVersion: string,
  logger: Logger,
  onCall: CriCallObserver = () => undefined,
  /** The peer credentials of the connection `call.getPeer()` names (server.ts); none when unknown. */
  peerOf: (peer: string) => PeerCredentials | undefined = () => undefined,
): CallWrappers & CallTracker {
  const callerOf = (rpc: string, call: { getPeer(): string }): CriCaller => ({
    via: 'cri',
    rpc,
    ...peerOf(call.getPeer()),
  });
  const openStreams = new Set<AbortController>();
  const observe = (rpc: string, code: grpc.status, started: number): void =>
    onCall(rpc, STATUS_NAMES[code] ?? String(code), (performance.now() - started) / 1000);

  function begin(
    call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>,
    kind: 'unary' | 'stream',
  ) {
    const controller = new AbortController();
    if (kind === 'stream') openStreams.add(controller);
    const cancel = () => controller.abort(new Error('the client cancelled the call'));
    call.on('cancelled', cancel);
    if (call.cancelled) cancel();
    const ctx: RpcContext = { backend, call: { signal: controller.signal }, runtimeVersion };
    const end = () => {
      openStreams.delete(controller);
      // grpc-js emits 'cancelled' after every answered call too: an abort then (an Error with
      // its stack, the signal's listeners) would be work for nothing on every call.
      call.removeListener('cancelled', cancel);
    };
    return { controller, ctx, end };
  }

  function logFailure(name: string, err: unknown, code: grpc.status): void {
    if (isExpectedStatus(code)) logger.debug({ rpc: name, code, err }, 'CRI call refused');
    else logger.error({ rpc: name, code, err }, 'CRI call failed');
  }

  return {
    unary<Req, Res>(name: string, rpc: UnaryRpc<Req, Res>): grpc.handleUnaryCall<Req, Res> {
      return (call, callback) => {
        const { ctx, end } = begin(call, 'unary');
        const started = performance.now();
        withCaller(callerOf(name, call), () => rpc(call.request, ctx)).then(
          (response) => {
            end();
            logger.debug({ rpc: name, ms: Math.round(performance.now() - started) }, 'CRI call');
            observe(name, OK, started);
            callback(null, response);
          },
          (err: unknown) => {
            end();
            const serviceError = toServiceError(name, err);
            logFailure(name, err, serviceError.code);
            observe(name, serviceError.code, started);
            callback(serviceError);
          },
        );
      };
    },

    stream<Req, Res>(name: string, rpc: StreamRpc<Req, Res>): grpc.handleServerStreamingCall<Req, Res> {
      return (call) => {
        const { controller, ctx, end } = begin(call, 'stream');
        const signal = controller.signal;
        const started = performance.now();
        const run = async () => {
          for await (const message of untilAborted(rpc(call.request, ctx), signal)) {
            // Backpressure: a slow subscriber makes its own producer wait, never the others.
            if (!call.write(message)) await once(call, 'drain', { signal });
          }
        };
        withCaller(callerOf(name, call), run).then(
          () => {
            end();
            if (call.cancelled) return observe(name, CANCELLED, started);
            if (signal.aborted) {
              const closing = toServiceError(name, new UnavailableError('the server is closing'));
              observe(name, closing.code, started);
              call.emit('error', closing);
            } else {
              observe(name, OK, started);
              call.end();
            }
          },
          (err: unknown) => {
            end();
            if (call.cancelled) return observe(name, CANCELLED, started);
            const reason = signal.aborted ? new UnavailableError('the server is closing') : err;
            const serviceError = toServiceError(name, reason);
            logFailure(name, reason, serviceError.code);
            observe(name, serviceError.code, started);
            call.emit('error', serviceError);
          },
        );
      };
    },

    endStreams(): void {
      for (const controller of openStreams) controller.abort(new UnavailableError('the server is closing'));
    },
  };
}
