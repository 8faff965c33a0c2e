// Unit tests for challenge parsing and the token cache (a tiny token server on loopback).
import http from 'node:http';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from 'undici';
import { EndpointAuthorizer, parseChallenges } from '../../src/registry/auth.js';
import { retryAfterMs } from '../../src/registry/transport.js';

describe('parseChallenges', () => {
  it('parses a bearer challenge with quoted, comma-separated params', () => {
    expect(
      parseChallenges(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push"',
      ),
    ).toEqual([
      {
        scheme: 'bearer',
        params: {
          realm: 'https://auth.example.com/token',
          service: 'registry.example.com',
          scope: 'repository:a/b:pull,push',
        },
      },
    ]);
  });

  it('parses basic, unquoted values and several headers', () => {
    expect(
      parseChallenges(['Basic realm="x"', 'Bearer realm=https://t/token, error=insufficient_scope']),
    ).toEqual([
      { scheme: 'basic', params: { realm: 'x' } },
      { scheme: 'bearer', params: { realm: 'https://t/token', error: 'insufficient_scope' } },
    ]);
  });

  it('returns nothing for no header', () => {
    expect(parseChallenges(undefined)).toEqual([]);
  });
});

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates', () => {
    expect(retryAfterMs('7')).toBe(7000);
    const now = Date.parse('2026-11-23T10:00:00Z');
    expect(retryAfterMs('Mon, 23 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });
});

describe('EndpointAuthorizer token cache', () => {
  let server: http.Server;
  let realm: string;
  const asked: { scope: string | null; auth: string | undefined }[] = [];
  const agent = new Agent();
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      asked.push({ scope: url.searchParams.get('scope'), auth: req.headers.authorization });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ token: `tok-${asked.length}`, expires_in: 300 }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    realm = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/token`;
  });
  afterAll(async () => {
    await agent.close();
    await new Promise((r) => server.close(r));
  });

  it('caches a token per scope until it expires, sending credentials to the realm', async () => {
    asked.length = 0;
    let now = 1_000_000;
    const a = new EndpointAuthorizer(
      'reg.test',
      { username: 'u', password: 'p' },
      () => agent,
      () => now,
    );
    expect(await a.authorization('repository:x:pull')).toBeUndefined();
    expect(a.learn(`Bearer realm="${realm}",service="svc"`)).toBe(true);
    expect(await a.authorization('repository:x:pull')).toBe('Bearer tok-1');
    expect(await a.authorization('repository:x:pull')).toBe('Bearer tok-1');
    expect(await a.authorization('repository:y:pull')).toBe('Bearer tok-2');
    now += 290_000; // within 300 s less the refresh margin
    expect(await a.authorization('repository:x:pull')).toBe('Bearer tok-1');
    now += 10_000;
    expect(await a.authorization('repository:x:pull')).toBe('Bearer tok-3');
    expect(asked.map((q) => q.scope)).toEqual([
      'repository:x:pull',
      'repository:y:pull',
      'repository:x:pull',
    ]);
    expect(asked[0]!.auth).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });

  it('shares one token request among concurrent callers', async () => {
    asked.length = 0;
    const a = new EndpointAuthorizer('reg.test', undefined, () => agent);
    a.learn(`Bearer realm="${realm}"`);
    const tokens = await Promise.all(Array.from({ length: 10 }, () => a.authorization('repository:z:pull')));
    expect(new Set(tokens)).toEqual(new Set(['Bearer tok-1']));
    expect(asked.length).toBe(1);
    expect(asked[0]!.auth).toBeUndefined();
  });

  it('answers basic challenges from credentials and refuses without them', async () => {
    const a = new EndpointAuthorizer('reg.test', { username: 'u', password: 'p' }, () => agent);
    a.learn('Basic realm="r"');
    expect(await a.authorization('')).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
    const b = new EndpointAuthorizer('reg.test', undefined, () => agent);
    b.learn('Basic realm="r"');
    await expect(b.authorization('')).rejects.toThrow(
      /reg.test requires authentication \(basic\) and no credentials/,
    );
  });

  it('does not learn schemes it cannot answer', () => {
    const a = new EndpointAuthorizer('reg.test', undefined, () => agent);
    expect(a.learn('Negotiate abc')).toBe(false);
    expect(a.knowsScheme).toBe(false);
  });
});
