/**
 * The daemon's HTTP/JSON API on a unix socket. The socket is created with mode 0600
 * (root only: the API can run containers) and removed on close. Each request runs as its caller
 * (src/common/caller.ts): the connection's peer credentials, read from the kernel when it is
 * accepted, the route, and the `berth` command the client names in its X-Berth-Command header.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { chmod, rm } from 'node:fs/promises';
import { withCaller, type ApiCaller } from '../common/caller.js';
import { BerthError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { peerCredentials, type PeerCredentials } from '../common/peer-credentials.js';
import { COMMAND_HEADER } from './client.js';
import type { ApiErrorBody } from './types.js';
import type { Router } from './router.js';

const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** What a command name in X-Berth-Command may be; anything else is left out of the caller. */
const COMMAND_NAME = /^[a-z][a-z0-9-]{0,31}$/;

const STATUS_BY_CODE: Record<string, number> = {
  invalid_argument: 400,
  not_found: 404,
  already_exists: 409,
  failed_precondition: 412,
  permission_denied: 403,
  unavailable: 503,
  unimplemented: 501,
  internal: 500,
};

/** Told of every request answered: method, route pattern (`/v1/containers/:id`), HTTP status, duration. */
export type ApiRequestObserver = (method: string, route: string, status: number, seconds: number) => void;

export class ApiServer {
  private server: Server | undefined;
  /** Each connection's peer credentials, read once when it is accepted. */
  private readonly peers = new WeakMap<Socket, PeerCredentials>();
  /** Set by berthd when metrics are on. */
  onRequest: ApiRequestObserver | undefined;

  constructor(
    private readonly router: Router,
    private readonly log: Logger,
  ) {}

  async listen(socketPath: string): Promise<void> {
    // The root lock guarantees no other daemon owns this socket, so a leftover file is stale.
    await rm(socketPath, { force: true });
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (socket: Socket) => {
      const credentials = peerCredentials(socket);
      if (credentials) this.peers.set(socket, credentials);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      // Create the socket with no permissions for group/other from the first instant.
      const oldMask = process.umask(0o177);
      try {
        server.listen(socketPath, () => resolve());
      } finally {
        process.umask(oldMask);
      }
    });
    await chmod(socketPath, 0o600);
    this.server = server;
  }

  async close(socketPath: string): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    await rm(socketPath, { force: true });
  }

  private callerOf(req: IncomingMessage, route: string): ApiCaller {
    const command = req.headers[COMMAND_HEADER];
    return {
      via: 'api',
      method: req.method ?? 'GET',
      route,
      ...(typeof command === 'string' && COMMAND_NAME.test(command) ? { command } : {}),
      ...this.peers.get(req.socket),
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://berth');
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const started = performance.now();
    // The route's pattern, not the path: ids in labels would make a series per container.
    let route = 'unmatched';
    res.on('finish', () =>
      this.onRequest?.(req.method ?? 'GET', route, res.statusCode, (performance.now() - started) / 1000),
    );
    try {
      const match = this.router.match(req.method ?? 'GET', url.pathname);
      if (typeof match === 'object') route = match.route.path;
      if (match === undefined)
        throw new BerthError('not_found', `no API route ${req.method} ${url.pathname}`);
      if (match === 'method')
        throw new BerthError('invalid_argument', `${req.method} is not allowed on ${url.pathname}`);
      const body = await readJsonBody(req);
      const handler = match.route.handler;
      // A streamed answer (a pull's progress) does its work while it is read: as the caller too.
      await withCaller(this.callerOf(req, route), async () => {
        const params = { params: match.params, query: url.searchParams, body, raw: req };
        const result = await handler({ ...params, signal: abort.signal });
        if (!isStream(result)) return sendJson(res, 200, result ?? {});
        res.writeHead(200, { 'content-type': 'application/x-ndjson' });
        for await (const item of result.stream) {
          if (abort.signal.aborted) break;
          res.write(JSON.stringify(item) + '\n');
        }
        res.end();
      });
    } catch (err) {
      const code = err instanceof BerthError ? err.code : 'internal';
      const status = STATUS_BY_CODE[code] ?? 500;
      if (status >= 500) this.log.error({ err, path: url.pathname }, 'API request failed');
      const body: ApiErrorBody = { error: { code, message: errorMessage(err) } };
      if (!res.headersSent) sendJson(res, status, body);
      else res.end(JSON.stringify(body) + '\n');
    }
  }
}

function isStream(v: unknown): v is { stream: AsyncIterable<unknown> } {
  return (
    typeof v === 'object' &&
    v !== null &&
    'stream' in v &&
    Symbol.asyncIterator in (v as { stream: object }).stream
  );
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const text = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES)
      throw new BerthError('invalid_argument', `request body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new BerthError('invalid_argument', `request body is not valid JSON: ${errorMessage(err)}`);
  }
}
