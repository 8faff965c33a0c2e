/**
 * Exec and attach over WebSocket, every sub-protocol kubelet's remotecommand server speaks:
 * every message starts with its channel (0 stdin, 1 stdout, 2 stderr, 3 error/status,
 * 4 resize). The binary protocols put the channel as a byte before raw data; the base64 ones
 * send text messages, the channel as an ASCII digit before base64 data. In v5 the client
 * half-closes stdin with the message [255, 0]. Before v4 the error channel carries only a
 * failure, as text; from v4 on it carries the JSON Status. The session ends with a normal
 * close, which clients read as end of output.
 */
import { PassThrough, Writable } from 'node:stream';
import type { Duplex } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../common/logger.js';
import type { StreamingBackend } from './backend.js';
import { runRemoteCommand, type RemoteCommandChannels } from './remote-command.js';
import type { StreamingRequest } from './requests.js';
import type { StatusFormat } from './status.js';
import { acceptWebSocketUpgrade, WebSocketConnection } from './websocket.js';

interface WebSocketProtocol {
  base64: boolean;
  statusFormat: StatusFormat;
  /** v5: the client half-closes a channel with [255, channel]. */
  closeSignal: boolean;
}

const PROTOCOLS: Record<string, WebSocketProtocol> = {
  'v5.channel.k8s.io': { base64: false, statusFormat: 'json', closeSignal: true },
  'v4.channel.k8s.io': { base64: false, statusFormat: 'json', closeSignal: false },
  'v4.base64.channel.k8s.io': { base64: true, statusFormat: 'json', closeSignal: false },
  'channel.k8s.io': { base64: false, statusFormat: 'v1-text', closeSignal: false },
  'base64.channel.k8s.io': { base64: true, statusFormat: 'v1-text', closeSignal: false },
  // A client that offers no sub-protocol gets the binary v1 one, as from kubelet.
  '': { base64: false, statusFormat: 'v1-text', closeSignal: false },
};
export const WEBSOCKET_PROTOCOLS = Object.keys(PROTOCOLS);
const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;
const CLOSE = 255;
const DIGIT_ZERO = 0x30;

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
  const protocol = PROTOCOLS[options.protocol.protocol]!;
  const ws = new WebSocketConnection(options.socket);
  const abort = new AbortController();
  ws.once('close', () => abort.abort());
  const stdin = request.stdin ? new PassThrough() : undefined;
  const resize = request.tty ? new PassThrough() : undefined;
  ws.on('message', (message: Buffer) => {
    if (message.length === 0) return;
    if (protocol.closeSignal && message[0] === CLOSE) {
      if (message[1] === STDIN) stdin?.end();
      return;
    }
    const channel = protocol.base64 ? message[0]! - DIGIT_ZERO : message[0];
    const data = protocol.base64
      ? Buffer.from(message.subarray(1).toString('latin1'), 'base64')
      : message.subarray(1);
    if (channel === STDIN) stdin?.write(data);
    else if (channel === RESIZE) resize?.write(data);
  });
  ws.once('close', () => {
    stdin?.end();
    resize?.end();
  });
  const writer = (channel: number): Writable => channelWriter(ws, channel, protocol.base64);
  const channels: RemoteCommandChannels = {
    stdin,
    stdout: request.stdout ? writer(STDOUT) : undefined,
    stderr: request.stderr && !request.tty ? writer(STDERR) : undefined,
    error: writer(ERROR),
    resize,
    statusFormat: protocol.statusFormat,
  };
  // Clients before v5 learn the session is up from an empty message on its first output
  // channel (kubelet sends one); v5 clients need none.
  if (!protocol.closeSignal) (channels.stdout ?? channels.stderr ?? channels.error).write(Buffer.alloc(0));
  ws.feed(options.head);
  try {
    await runRemoteCommand(request, channels, options.backend, abort.signal, options.logger);
  } finally {
    resize?.end();
    ws.close();
  }
}

function channelWriter(ws: WebSocketConnection, channel: number, base64: boolean): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (base64) ws.sendText(String.fromCharCode(DIGIT_ZERO + channel) + chunk.toString('base64'));
      else ws.send(Buffer.concat([Buffer.from([channel]), chunk]));
      callback();
    },
  });
}
