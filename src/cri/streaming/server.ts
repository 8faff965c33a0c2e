/**
 * StreamingServer: the HTTP server the URLs of Exec, Attach and PortForward point at, on a
 * loopback port (kubelet proxies to it; crictl connects directly). Each URL carries a one-time
 * token (requests.ts); the connection upgrades to SPDY/3.1 with a negotiated sub-protocol:
 * `v5.channel.k8s.io` / `v4.channel.k8s.io` for exec and attach, `portforward.k8s.io` for
 * port-forward — or to WebSocket with `v5.channel.k8s.io` / `v4.channel.k8s.io` when the client
 * asks for it (client-go's WebSocket executor, `crictl exec --transport websocket`).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { FailedPreconditionError } from '../../common/errors.js';
import { silentLogger, type Logger } from '../../common/logger.js';
import type { AttachStreamRequest, ExecStreamRequest } from '../types/container.js';
import type { StreamingBackend } from './backend.js';
import { RequestCache, type RequestCacheOptions, type StreamingRequest } from './requests.js';
import type { SpdyConnection } from './spdy/connection.js';
import { serveSpdySession } from './spdy-session.js';
import { serveWebSocketSession, WEBSOCKET_PROTOCOLS, acceptWebSocket } from './websocket-session.js';
import { runAs } from '../../common/caller.js';

export const REMOTE_COMMAND_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
export const PORT_FORWARD_PROTOCOL = 'portforward.k8s.io';
const DEFAULT_STREAM_CREATION_TIMEOUT_MS = 30_000;

export interface StreamingServerOptions {
  backend: StreamingBackend;
  logger?: Logger;
  /** Loopback only by default: the URLs are bearer tokens over plain HTTP. */
  host?: string;
  /** 0 (default): any free port. */
  port?: number;
  tokens?: RequestCacheOptions;
  streamCreationTimeoutMs?: number;
}

type Closable = { destroy(): void };

export class StreamingServer {
  private readonly logger: Logger;
  private readonly requests: RequestCache;
  private server: Server | undefined;
  private address: AddressInfo | undefined;
  private readonly live = new Set<Closable>();

  constructor(private readonly options: StreamingServerOptions) {
    this.logger = (options.logger ?? silentLogger).child({ subsystem: 'cri-streaming' });
    this.requests = new RequestCache(options.tokens);
  }

  async start(): Promise<void> {
    if (this.server) throw new FailedPreconditionError('the streaming server is already running');
    const server = createServer((req, res) => {
      // Every streaming request is an upgrade; a plain request is a client that cannot stream.
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end('streaming requests must upgrade the connection to SPDY/3.1 or websocket\n');
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(req, socket, head),
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    this.address = server.address() as AddressInfo;
    this.logger.info({ url: this.baseUrl }, 'CRI streaming server listening');
  }

  get baseUrl(): string {
    if (!this.address) throw new FailedPreconditionError('the streaming server is not running');
    const host = this.address.family === 'IPv6' ? `[${this.address.address}]` : this.address.address;
    return `http://${host}:${this.address.port}`;
  }

  execUrl(request: ExecStreamRequest): string {
    return this.url('exec', { kind: 'exec', ...request });
  }

  attachUrl(request: AttachStreamRequest): string {
    return this.url('attach', { kind: 'attach', ...request });
  }

  portForwardUrl(podSandboxId: string, ports: number[]): string {
    return this.url('portforward', { kind: 'portforward', podSandboxId, ports });
  }

  /** Tokens handed out and not used yet (for tests and diagnostics). */
  get waitingRequests(): number {
    return this.requests.size;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.address = undefined;
    for (const session of this.live) session.destroy();
    this.live.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // A client idling on a plain keep-alive connection must not hold berthd's stop.
    server.closeAllConnections();
    await closed;
    this.logger.info('CRI streaming server closed');
  }

  private url(path: string, request: StreamingRequest): string {
    const base = this.baseUrl;
    return `${base}/${path}/${this.requests.insert(request)}`;
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', (err) => this.logger.debug({ err }, 'streaming socket error'));
    const match = /^\/(exec|attach|portforward)\/([A-Za-z0-9_-]+)$/.exec(
      new URL(req.url ?? '/', 'http://streaming').pathname,
    );
    if (!match) return refuse(socket, 404, `no streaming endpoint at ${req.url}`);
    const [, kind, token] = match;
    const taken = this.requests.take(token!);
    const request = taken?.request;
    if (!request || request.kind !== kind)
      return refuse(
        socket,
        404,
        'unknown or expired streaming token: request a new URL (tokens are single use)',
      );

    const upgradeTo = (req.headers.upgrade ?? '').toLowerCase();
    const timeout = this.options.streamCreationTimeoutMs ?? DEFAULT_STREAM_CREATION_TIMEOUT_MS;
    if (upgradeTo === 'websocket') {
      if (request.kind === 'portforward')
        return refuse(socket, 400, 'port-forward over websocket is not supported: use SPDY');
      const ws = acceptWebSocket(req, socket, WEBSOCKET_PROTOCOLS);
      if (typeof ws === 'string') return refuse(socket, 400, ws);
      const closable = { destroy: () => socket.destroy() };
      this.live.add(closable);
      void runAs(taken?.caller, () =>
        serveWebSocketSession({
          socket,
          head,
          request,
          protocol: ws,
          backend: this.options.backend,
          logger: this.logger,
        }),
      ).finally(() => this.live.delete(closable));
      return;
    }
    if (!upgradeTo.includes('spdy/3.1'))
      return refuse(
        socket,
        400,
        `unsupported upgrade "${req.headers.upgrade ?? ''}": use SPDY/3.1 or websocket`,
      );

    const supported = request.kind === 'portforward' ? [PORT_FORWARD_PROTOCOL] : REMOTE_COMMAND_PROTOCOLS;
    const offered = headerValues(req.headers['x-stream-protocol-version']);
    const protocol = offered.find((p) => supported.includes(p));
    if (!protocol) {
      return refuse(
        socket,
        403,
        `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(', ')}], server supports [${supported.join(', ')}]`,
        supported.map((p) => `X-Accepted-Stream-Protocol-Versions: ${p}`),
      );
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\n' +
        'Connection: Upgrade\r\n' +
        'Upgrade: SPDY/3.1\r\n' +
        `X-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
    );
    let connection: SpdyConnection | undefined;
    void runAs(taken?.caller, () =>
      serveSpdySession({
        socket,
        head,
        request,
        backend: this.options.backend,
        logger: this.logger,
        streamCreationTimeoutMs: timeout,
        track: (c) => {
          connection = c;
          this.live.add(c);
        },
      }),
    ).finally(() => {
      if (connection) this.live.delete(connection);
    });
  }
}

/** Values of a header that may be repeated and comma-separated. */
function headerValues(value: string | string[] | undefined): string[] {
  const all = Array.isArray(value) ? value : value ? [value] : [];
  return all
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

function refuse(socket: Duplex, code: number, message: string, extraHeaders: string[] = []): void {
  const reason = { 400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found' }[code] ?? 'Error';
  const body = `${message}\n`;
  socket.end(
    [
      `HTTP/1.1 ${code} ${reason}`,
      'Content-Type: text/plain; charset=utf-8',
      `Content-Length: ${Buffer.byteLength(body)}`,
      'Connection: close',
      ...extraHeaders,
      '',
      body,
    ].join('\r\n'),
  );
}
