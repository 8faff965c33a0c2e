/** HTTP to registries on undici: endpoints (mirrors then upstream), TLS per host, auth, 429 waits, redirects, errors. */
import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { Agent, request, type Dispatcher } from 'undici';

/** A response from undici's `request`. */
export type ResponseData = Awaited<ReturnType<typeof request>>;
import { BerthError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import { EndpointAuthorizer } from './auth.js';
import { parseRegistryConfig, type HostConfig, type RegistryConfig } from './config.js';
import { RegistryError, codeForStatus, describeRegistryErrors, parseRegistryErrors } from './errors.js';

/** One place a repository can be fetched from: a mirror or the upstream registry. */
export interface Endpoint {
  /** The registry host the reference names (`docker.io`). */
  registry: string;
  /** `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  baseUrl: URL;
  isMirror: boolean;
  authorizer: EndpointAuthorizer;
}

/** One request to an endpoint. `scope` is the token scope it needs (`repository:x/y:pull`). */
export interface RegistryRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'PATCH';
  /** Path (and query) under the endpoint, starting with `/v2/`, or an absolute URL (upload locations). */
  path: string;
  scope: string;
  headers?: Record<string, string>;
  body?: Buffer | Readable;
  signal?: AbortSignal;
  /** Statuses treated as success (default 200-299). */
  ok?: (status: number) => boolean;
  /** Words for error messages: "manifest team/app:v1". */
  what: string;
}

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';
const MAX_REDIRECTS = 5;
const MAX_ERROR_BODY = 64 * 1024;

const TLS_TRUST_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

function errCode(err: unknown): string | undefined {
  const e = err as { code?: string; cause?: { code?: string } } | undefined;
  return e?.cause?.code ?? e?.code;
}

/** Turns a connection-level failure into an error that says what to do about it. */
export function connectionError(err: unknown, url: URL): BerthError {
  if (err instanceof BerthError) return err;
  const code = errCode(err);
  const msg = (err as Error).message;
  const host = url.host;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new RegistryError('unavailable', `cannot resolve registry host ${url.hostname} (${code})`, {
      cause: err,
    });
  }
  if (code && TLS_TRUST_CODES.has(code)) {
    return new RegistryError(
      'failed_precondition',
      `TLS certificate of ${host} is not trusted (${code}: ${msg}); add its CA as caFile for "${host}" in the registry config`,
      { cause: err },
    );
  }
  if (code === 'EPROTO' || /wrong version number|packet length too long/i.test(msg)) {
    const reason = /wrong version number|packet length too long/i.exec(msg)?.[0] ?? msg.split('\n')[0];
    return new RegistryError(
      'failed_precondition',
      `TLS handshake with ${host} failed (${reason}: the server does not seem to speak TLS); if it serves plain HTTP, set plainHttp for "${host}"`,
      { cause: err },
    );
  }
  return new RegistryError('unavailable', `cannot reach registry ${host}: ${code ? `${code}: ` : ''}${msg}`, {
    cause: err,
  });
}

/** Parses Retry-After (seconds or an HTTP date) into milliseconds. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Number(v.trim()) * 1000;
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

function header(headers: ResponseData['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Reads at most `limit` bytes of an error body, for the registry's message. */
async function errorBody(body: ResponseData['body']): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
    if (size >= MAX_ERROR_BODY) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Holds one undici Agent per registry host and sends authorised requests through them. */
export class RegistryTransport {
  readonly config: ReturnType<typeof parseRegistryConfig>;
  private readonly agents = new Map<string, Agent>();
  private readonly authorizers = new Map<string, EndpointAuthorizer>();
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    config: RegistryConfig = {},
    private readonly logger: Logger = silentLogger,
    sleep?: (ms: number, signal?: AbortSignal) => Promise<void>,
  ) {
    this.config = parseRegistryConfig(config);
    this.sleep =
      sleep ??
      ((ms, signal) =>
        new Promise((resolve, reject) => {
          const t = setTimeout(resolve, ms);
          signal?.addEventListener(
            'abort',
            () => {
              clearTimeout(t);
              reject(signal.reason as Error);
            },
            { once: true },
          );
        }));
  }

  hostConfig(host: string): HostConfig {
    return this.config.hosts[host] ?? {};
  }

  /** Where to fetch `registry`'s content: its mirrors in order, then itself. */
  endpoints(registry: string): Endpoint[] {
    const upstreamConfig = this.hostConfig(registry);
    const mirrors = (upstreamConfig.mirrors ?? []).map((m) => this.endpoint(registry, m, true));
    const upstreamHost = registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
    return [...mirrors, this.endpoint(registry, upstreamHost, false)];
  }

  private endpoint(registry: string, location: string, isMirror: boolean): Endpoint {
    let baseUrl: URL;
    if (/^https?:\/\//.test(location)) {
      baseUrl = new URL(location);
    } else {
      const cfg = this.hostConfig(location === DOCKER_HUB_API ? registry : location);
      baseUrl = new URL(`${cfg.plainHttp ? 'http' : 'https'}://${location}`);
    }
    const credsHost = isMirror ? baseUrl.host : registry;
    const key = `${baseUrl.origin}|${credsHost}`;
    let authorizer = this.authorizers.get(key);
    if (!authorizer) {
      const cfg = this.hostConfig(credsHost);
      const creds =
        cfg.username !== undefined ? { username: cfg.username, password: cfg.password ?? '' } : undefined;
      authorizer = new EndpointAuthorizer(baseUrl.host, creds, (u) => this.dispatcher(u));
      this.authorizers.set(key, authorizer);
    }
    return { registry, baseUrl, isMirror, authorizer };
  }

  /** The agent for a URL's host, with that host's TLS settings. */
  dispatcher(url: URL): Dispatcher {
    let agent = this.agents.get(url.host);
    if (!agent) {
      const cfg = this.hostConfig(url.host);
      const connect: { ca?: string[]; rejectUnauthorized?: boolean } = {};
      if (cfg.caFile) {
        try {
          // Extra CAs are added to, not substituted for, the system roots.
          connect.ca = [...rootCertificates, readFileSync(cfg.caFile, 'utf8')];
        } catch (err) {
          throw new RegistryError(
            'failed_precondition',
            `cannot read caFile ${cfg.caFile} for ${url.host}: ${(err as Error).message}`,
          );
        }
      }
      if (cfg.insecureSkipVerify) connect.rejectUnauthorized = false;
      const stall = this.config.stallTimeoutMs ?? 30_000;
      // Timeouts measure silence (no headers / no body bytes), never a transfer's total time.
      agent = new Agent({
        connect,
        connections: 16,
        keepAliveTimeout: 10_000,
        headersTimeout: stall,
        bodyTimeout: stall,
      });
      this.agents.set(url.host, agent);
    }
    return agent;
  }

  /**
   * Sends a request: authorises it (learning the scheme from a 401 and retrying once),
   * waits out 429s per Retry-After, follows redirects (without credentials off-origin),
   * and throws a `RegistryError` carrying the registry's message for other failures.
   * The caller consumes the returned body.
   */
  async send(ep: Endpoint, req: RegistryRequest): Promise<ResponseData> {
    let url = /^https?:\/\//.test(req.path) ? new URL(req.path) : new URL(req.path, ep.baseUrl);
    let authRetried = false;
    let rateLimited = 0;
    let redirects = 0;
    const maxRateRetries = this.config.maxRateLimitRetries ?? 3;
    const maxWait = this.config.maxRetryAfterMs ?? 60_000;
    for (;;) {
      const headers: Record<string, string> = { ...req.headers };
      const sameOrigin = url.origin === ep.baseUrl.origin;
      if (sameOrigin) {
        const authorization = await ep.authorizer.authorization(req.scope);
        if (authorization) headers['authorization'] = authorization;
      }
      let res: ResponseData;
      try {
        const opts: Parameters<typeof request>[1] = {
          method: req.method,
          headers,
          dispatcher: this.dispatcher(url),
        };
        if (req.signal) opts.signal = req.signal;
        if (req.body) opts.body = req.body as Buffer;
        res = await request(url, opts);
      } catch (err) {
        if (req.signal?.aborted) throw err;
        throw connectionError(err, url);
      }
      const status = res.statusCode;
      const location = header(res.headers, 'location');
      if (
        [301, 302, 303, 307, 308].includes(status) &&
        location &&
        req.method !== 'PUT' &&
        req.method !== 'POST' &&
        req.method !== 'PATCH'
      ) {
        await res.body.dump();
        if (++redirects > MAX_REDIRECTS)
          throw new RegistryError(
            'unavailable',
            `${req.what}: more than ${MAX_REDIRECTS} redirects from ${ep.baseUrl.host}`,
          );
        url = new URL(location, url);
        continue;
      }
      if (status === 401 && sameOrigin && !authRetried) {
        await res.body.dump();
        authRetried = true;
        if (ep.authorizer.learn(res.headers['www-authenticate'])) {
          ep.authorizer.invalidate(req.scope);
          continue;
        }
        throw new RegistryError(
          'permission_denied',
          `${req.what}: ${url.host} requires authentication with a scheme Berth does not support (${String(res.headers['www-authenticate'] ?? 'no challenge')})`,
          { status },
        );
      }
      if (status === 429 && rateLimited < maxRateRetries) {
        const wait = retryAfterMs(res.headers['retry-after']) ?? 1000 * 2 ** rateLimited;
        await res.body.dump();
        if (wait > maxWait) {
          throw new RegistryError(
            'unavailable',
            `${req.what}: ${url.host} is rate limiting (HTTP 429) and asks to retry after ${Math.ceil(wait / 1000)} s, longer than the ${Math.ceil(maxWait / 1000)} s allowed`,
            { status },
          );
        }
        rateLimited++;
        this.logger.info(
          { host: url.host, waitMs: wait },
          'registry rate limited the request; waiting as asked by Retry-After',
        );
        await this.sleep(wait, req.signal);
        continue;
      }
      if (req.ok ? req.ok(status) : status >= 200 && status < 300) return res;
      const details = parseRegistryErrors(await errorBody(res.body));
      const said = details.length ? `: ${describeRegistryErrors(details)}` : '';
      throw new RegistryError(
        codeForStatus(status),
        `${req.what}: ${url.host} answered HTTP ${status}${said}`,
        { status, registryErrors: details },
      );
    }
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((a) => a.close()));
    this.agents.clear();
  }
}
