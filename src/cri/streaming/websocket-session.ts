/**
 * Exec and attach over WebSocket with the `v5.channel.k8s.io` (or v4) sub-protocol: every
 * binary message starts with its channel (0 stdin, 1 stdout, 2 stderr, 3 error/status,
 * 4 resize); in v5 the client half-closes stdin with the message [255, 0]. The session ends
 * with the status on channel 3 and a normal close, which client-go reads as end of output.
 */
import { PassThrough, Writable } from 'node:stream';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../common/logger.js';
import type { StreamingBackend } from './backend.js';
import { runRemoteCommand, type RemoteCommandChannels } from './remote-command.js';
import type { StreamingRequest } from './requests.js';
import { acceptWebSocketUpgrade, WebSocketConnection } from './websocket.js';

export const WEBSOCKET_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;

/** Completes the handshake; returns the negotiated protocol or the reason it failed. */
export function acceptWebSocket(
  req: IncomingMessage,
  socket: Duplex,
  supported: string[],
): { protocol: string } | string {
  const result = acceptWebSocketUpgrade(req, socket, supported);
  return supported.includes(result) ? { protocol: result } : result;
}

export interface WebSocketSessionOptions {
  socket: Duplex;
  head: Buffer;
  request: StreamingRequest;
  protocol: { protocol: string };
  backend: StreamingBackend;
  logger: Logger;
}

export async function serveWebSocketSession(options: WebSocketSessionOptions): Promise<void> {
  const { request } = options;
  if (request.kind === 'portforward') return;
  const ws = new WebSocketConnection(options.socket);
  const abort = new AbortController();
  ws.once('close', () => abort.abort());
  const stdin = request.stdin ? new PassThrough() : undefined;
  const resize = request.tty ? new PassThrough() : undefined;
  ws.on('message', (message: Buffer) => {
    if (message.length === 0) return;
    const channel = message[0];
    const data = message.subarray(1);
    if (channel === STDIN) stdin?.write(data);
    else if (channel === RESIZE) resize?.write(data);
    else if (channel === CLOSE && data[0] === STDIN) stdin?.end();
  });
  ws.once('close', () => {
    stdin?.end();
    resize?.end();
  });
  const channels: RemoteCommandChannels = {
    stdin,
    stdout: request.stdout ? channelWriter(ws, STDOUT) : undefined,
    stderr: request.stderr && !request.tty ? channelWriter(ws, STDERR) : undefined,
    error: channelWriter(ws, ERROR),
    resize,
  };
  ws.feed(options.head);
  try {
    await runRemoteCommand(request, channels, options.backend, abort.signal, options.logger);
  } finally {
    resize?.end();
    ws.close();
  }
}

function channelWriter(ws: WebSocketConnection, channel: number): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      ws.send(Buffer.concat([Buffer.from([channel]), chunk]));
      callback();
    },
  });
}
