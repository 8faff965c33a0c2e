/** A client for berthd's API socket, used by the CLI and by tests. */
import { request, type IncomingMessage } from 'node:http';
import { createInterface } from 'node:readline';
import { BerthError, type ErrorCode } from '../common/errors.js';
import type { ApiErrorBody } from './types.js';

export const DEFAULT_API_SOCKET = '/run/berth/berth.sock';

/**
 * The header naming the `berth` command a request serves; berthd records it in the caller of the
 * events the request causes. Who the caller is (pid, uid) berthd reads from the socket, never from here.
 */
export const COMMAND_HEADER = 'x-berth-command';

/**
 * berthd does not answer on its API socket. The CLI's exit code 4 means this and nothing else: an
 * `unavailable` error berthd itself returns (a registry or DNS failure) is a failure like any other.
 */
export class BerthdUnreachableError extends BerthError {
  constructor(message: string) {
    super('unavailable', message);
  }
}

export class ApiClient {
  /** `command`: the `berth` command making the requests (`stop`), sent in COMMAND_HEADER. */
  constructor(
    readonly socketPath: string = DEFAULT_API_SOCKET,
    readonly command?: string,
  ) {}

  get<T>(path: string, query?: Record<string, string | undefined>): Promise<T> {
    return this.call<T>('GET', withQuery(path, query));
  }

  post<T>(path: string, body?: unknown): Promise<T> {
    return this.call<T>('POST', path, body);
  }

  delete<T>(path: string): Promise<T> {
    return this.call<T>('DELETE', path);
  }

  /** Reads a newline-delimited JSON stream until the server ends it or `signal` aborts. */
  async *stream<T>(
    path: string,
    query?: Record<string, string | undefined>,
    signal?: AbortSignal,
  ): AsyncGenerator<T> {
    const res = await this.open('GET', withQuery(path, query), undefined, signal);
    if ((res.statusCode ?? 500) >= 400) throw toError(await readAll(res), this.socketPath);
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line.trim()) continue;
      const value = JSON.parse(line) as T | ApiErrorBody;
      if (typeof value === 'object' && value !== null && 'error' in value)
        throw toError(line, this.socketPath);
      yield value as T;
    }
  }

  /** POSTs `body` and reads the newline-delimited JSON answer (e.g. a pull's progress then its result). */
  async *postStream<T>(path: string, body: unknown, signal?: AbortSignal): AsyncGenerator<T> {
    const res = await this.open('POST', path, body, signal);
    if ((res.statusCode ?? 500) >= 400) throw toError(await readAll(res), this.socketPath);
    const lines = createInterface({ input: res, crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line.trim()) continue;
      const value = JSON.parse(line) as T | ApiErrorBody;
      if (typeof value === 'object' && value !== null && 'error' in value)
        throw toError(line, this.socketPath);
      yield value as T;
    }
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.open(method, path, body);
    const text = await readAll(res);
    if ((res.statusCode ?? 500) >= 400) throw toError(text, this.socketPath);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  private open(method: string, path: string, body?: unknown, signal?: AbortSignal) {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          signal,
          headers: {
            ...(payload
              ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
              : {}),
            ...(this.command ? { [COMMAND_HEADER]: this.command } : {}),
          },
        },
        resolve,
      );
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT' || err.code === 'ECONNREFUSED') {
          reject(new BerthdUnreachableError(`berthd is not running: no API socket at ${this.socketPath}`));
        } else if (err.code === 'EACCES') {
          reject(
            new BerthError(
              'permission_denied',
              `permission denied on ${this.socketPath}: the API is root-only`,
            ),
          );
        } else reject(err);
      });
      req.end(payload);
    });
  }
}

function withQuery(path: string, query?: Record<string, string | undefined>): string {
  if (!query) return path;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function toError(text: string, socketPath: string): BerthError {
  try {
    const body = JSON.parse(text) as ApiErrorBody;
    return new BerthError(body.error.code as ErrorCode, body.error.message);
  } catch {
    return new BerthError(
      'internal',
      `unexpected answer from berthd at ${socketPath}: ${text.slice(0, 200)}`,
    );
  }
}
