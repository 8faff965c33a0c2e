/**
 * Serves one upgraded SPDY connection: an exec/attach session (remotecommand v4/v5: the client
 * opens one stream per channel, named by its `streamType` header) or a port-forward session
 * (`portforward.k8s.io`: per forwarded connection an error and a data stream, paired by
 * `requestID`, the target port in their `port` header).
 */
import type { Duplex } from 'node:stream';
import type { Logger } from '../../common/logger.js';
import type { StreamingBackend } from './backend.js';
import { forwardPort } from './port-forward.js';
import {
  expectedChannels,
  runRemoteCommand,
  type RemoteCommandChannels,
  type RemoteCommandRequest,
} from './remote-command.js';
import type { StreamingRequest } from './requests.js';
import { SpdyConnection, type SpdyStream } from './spdy/connection.js';

export interface SpdySessionOptions {
  socket: Duplex;
  head: Buffer;
  request: StreamingRequest;
  backend: StreamingBackend;
  logger: Logger;
  /** How long the client has to open every stream the session needs (kubelet: 30 s). */
  streamCreationTimeoutMs: number;
  /** Registers the connection so the server can cut it at shutdown. */
  track: (connection: SpdyConnection) => void;
}

export async function serveSpdySession(options: SpdySessionOptions): Promise<void> {
  const { request, logger } = options;
  const abort = new AbortController();
  let onStream: (stream: SpdyStream) => void = () => undefined;
  const connection = new SpdyConnection(options.socket, {
    logger,
    onStream: (stream) => onStream(stream),
  });
  options.track(connection);
  void connection.closed.then(() => abort.abort());
  try {
    if (request.kind === 'portforward') {
      onStream = portForwardStreams(request.podSandboxId, request.ports, options, abort.signal);
      connection.feed(options.head);
      await connection.closed;
      return;
    }
    const channels = collectChannels(
      request,
      options.streamCreationTimeoutMs,
      (handler) => {
        onStream = handler;
      },
      abort.signal,
    );
    connection.feed(options.head);
    const ready = await Promise.race([channels, connection.closed.then(() => undefined)]);
    if (!ready) return;
    await runRemoteCommand(request, ready, options.backend, abort.signal, logger);
  } catch (err) {
    logger.debug({ err }, 'streaming session ended with an error');
  } finally {
    await connection.close();
  }
}

const STREAM_TYPES = new Set(['error', 'stdin', 'stdout', 'stderr', 'resize']);

/** Resolves once the client has opened every stream the request needs. */
function collectChannels(
  request: RemoteCommandRequest,
  timeoutMs: number,
  setHandler: (handler: (stream: SpdyStream) => void) => void,
  closed: AbortSignal,
): Promise<RemoteCommandChannels> {
  const expected = new Set<string>(expectedChannels(request));
  return new Promise((resolve, reject) => {
    const got: Record<string, SpdyStream> = {};
    const timer = setTimeout(
      () =>
        reject(
          new Error(
            `timed out waiting for the client to open the ${[...expected].filter((t) => !got[t]).join(', ')} stream(s)`,
          ),
        ),
      timeoutMs,
    );
    // A client that leaves before opening its streams must not keep the timer (and berthd) busy.
    closed.addEventListener('abort', () => clearTimeout(timer));
    setHandler((stream) => {
      const type = stream.header('streamtype') ?? '';
      if (!STREAM_TYPES.has(type) || got[type]) {
        stream.destroy();
        return;
      }
      got[type] = stream;
      if ([...expected].every((t) => got[t])) {
        clearTimeout(timer);
        resolve({
          error: got.error!,
          stdin: got.stdin,
          stdout: got.stdout,
          stderr: got.stderr,
          resize: got.resize,
        });
      }
    });
  });
}

function portForwardStreams(
  podSandboxId: string,
  allowedPorts: number[],
  options: SpdySessionOptions,
  signal: AbortSignal,
): (stream: SpdyStream) => void {
  const pending = new Map<string, { error?: SpdyStream; data?: SpdyStream }>();
  return (stream) => {
    const type = stream.header('streamtype');
    const requestId = stream.header('requestid') ?? '';
    const port = Number(stream.header('port'));
    if ((type !== 'error' && type !== 'data') || !Number.isInteger(port) || port < 1 || port > 65535) {
      stream.destroy();
      return;
    }
    const pair = pending.get(requestId) ?? {};
    if (pair[type]) {
      stream.destroy();
      return;
    }
    pair[type] = stream;
    pending.set(requestId, pair);
    if (!pair.error || !pair.data) return;
    pending.delete(requestId);
    const { error, data } = pair;
    // kubelet forwards any port the client names; the request's list, when given, narrows it.
    if (allowedPorts.length > 0 && !allowedPorts.includes(port)) {
      error.end(
        `port ${port} was not requested for this port-forward session (requested: ${allowedPorts.join(', ')})`,
      );
      data.end();
      return;
    }
    void forwardPort(podSandboxId, port, data, error, options.backend, signal, options.logger);
  };
}
