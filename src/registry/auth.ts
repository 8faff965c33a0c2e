/** Registry authentication: challenge parsing, basic credentials and cached bearer tokens. */
import type { Dispatcher } from 'undici';
import { request } from 'undici';
import { BerthError } from '../common/errors.js';
import { RegistryError, codeForStatus, describeRegistryErrors, parseRegistryErrors } from './errors.js';

/** One challenge from a `WWW-Authenticate` header. */
export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate` (RFC 7235): `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. */
export function parseChallenges(header: string | string[] | undefined): AuthChallenge[] {
  const values = header === undefined ? [] : Array.isArray(header) ? header : [header];
  const out: AuthChallenge[] = [];
  for (const value of values) {
    const re = /\s*([A-Za-z][\w-]*)(?:\s+|$)((?:[\w-]+\s*=\s*(?:"(?:[^"\\]|\\.)*"|[^,\s]*)\s*,?\s*)*)/y;
    let m: RegExpExecArray | null;
    while (re.lastIndex < value.length && (m = re.exec(value)) !== null) {
      if (m[0].length === 0) break;
      const params: Record<string, string> = {};
      const paramRe = /([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
      let p: RegExpExecArray | null;
      while ((p = paramRe.exec(m[2] ?? '')) !== null) {
        params[(p[1] ?? '').toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : (p[3] ?? '');
      }
      out.push({ scheme: (m[1] ?? '').toLowerCase(), params });
    }
  }
  return out;
}

export interface Credentials {
  username: string;
  password: string;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

/** Tokens shorter-lived than this are refreshed this much early, so a request never carries an expiring one. */
const EXPIRY_SKEW_MS = 5_000;
const DEFAULT_TOKEN_TTL_S = 60;

/**
 * Authorizes requests to one registry endpoint. It learns the scheme from the first 401
 * challenge, then authorizes later requests up front: basic from credentials, bearer
 * with a token per scope from the challenge's realm, cached until it expires.
 */
export class EndpointAuthorizer {
  private challenge: AuthChallenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly inflight = new Map<string, Promise<CachedToken>>();

  constructor(
    private readonly host: string,
    private readonly credentials: Credentials | undefined,
    private readonly dispatcherFor: (url: URL) => Dispatcher,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records the challenge of a 401; returns false when it offers nothing this client can answer. */
  learn(header: string | string[] | undefined): boolean {
    const challenges = parseChallenges(header);
    const chosen =
      challenges.find((c) => c.scheme === 'bearer') ?? challenges.find((c) => c.scheme === 'basic');
    if (!chosen) return false;
    this.challenge = chosen;
    return true;
  }

  /** Whether a challenge is known (so a 401 after authorizing is a real refusal). */
  get knowsScheme(): boolean {
    return this.challenge !== undefined;
  }

  /** Forgets a cached token for the scope (after the registry refused it). */
  invalidate(scope: string): void {
    this.tokens.delete(this.tokenKey(scope));
  }

  /** The Authorization header for a request needing `scope`, or undefined before any challenge. */
  async authorization(scope: string): Promise<string | undefined> {
    const ch = this.challenge;
    if (!ch) return undefined;
    if (ch.scheme === 'basic') {
      if (!this.credentials) {
        throw new RegistryError(
          'permission_denied',
          `registry ${this.host} requires authentication (basic) and no credentials are configured for it`,
          { status: 401 },
        );
      }
      const { username, password } = this.credentials;
      return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    }
    const key = this.tokenKey(scope);
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > this.now()) return `Bearer ${cached.token}`;
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetchToken(ch, scope).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    const fresh = await pending;
    this.tokens.set(key, fresh);
    return `Bearer ${fresh.token}`;
  }

  private tokenKey(scope: string): string {
    return `${this.challenge?.params['realm'] ?? ''}|${this.challenge?.params['service'] ?? ''}|${scope}`;
  }

  private async fetchToken(ch: AuthChallenge, scope: string): Promise<CachedToken> {
    const realm = ch.params['realm'];
    if (!realm)
      throw new RegistryError(
        'failed_precondition',
        `registry ${this.host} sent a bearer challenge without a realm`,
      );
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError(
        'failed_precondition',
        `registry ${this.host} sent an invalid token realm ${JSON.stringify(realm)}`,
      );
    }
    if (ch.params['service']) url.searchParams.set('service', ch.params['service']);
    if (scope) url.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    if (this.credentials) {
      const { username, password } = this.credentials;
      headers['authorization'] = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    }
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { dispatcher: this.dispatcherFor(url), headers });
    } catch (err) {
      throw new RegistryError(
        'unavailable',
        `cannot reach the token service ${url.origin} of ${this.host}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      const details = parseRegistryErrors(text);
      throw new RegistryError(
        codeForStatus(res.statusCode),
        `token service ${url.origin} refused a token for ${scope || 'the registry'} (HTTP ${res.statusCode})${details.length ? `: ${describeRegistryErrors(details)}` : ''}`,
        { status: res.statusCode, registryErrors: details },
      );
    }
    let body: { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
    try {
      body = JSON.parse(text) as typeof body;
    } catch (err) {
      throw new BerthError('failed_precondition', `token service ${url.origin} returned invalid JSON`, {
        cause: err,
      });
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new BerthError('failed_precondition', `token service ${url.origin} returned no token`);
    const ttlMs = (body.expires_in && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_TTL_S) * 1000;
    const issued = body.issued_at ? Date.parse(body.issued_at) : NaN;
    const start = Number.isFinite(issued) && issued <= this.now() ? issued : this.now();
    return { token, expiresAt: start + ttlMs - Math.min(EXPIRY_SKEW_MS, ttlMs / 2) };
  }
}
