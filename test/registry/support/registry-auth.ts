/**
 * TLS and auth material for the test registry (test/helpers/registry.ts): a CA and server
 * certificate made with openssl, bcrypt htpasswd files made with the system python3's
 * stdlib crypt (libxcrypt), and an in-process token issuer signing ES256 JWTs whose x5c
 * certificate is the registry's rootcertbundle.
 */
import { createPrivateKey, randomUUID, sign, X509Certificate } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type net from 'node:net';
import { execFile } from '../../../src/common/exec.js';
import { issueCert, selfSigned } from '../../helpers/test-pki.js';

export interface TokenIssuer {
  realm: string;
  service: string;
  /** Requests the issuer has answered, with the scopes asked for. */
  requests: { scope: string[]; user?: string }[];
}

export async function makeTestCa(
  dir: string,
  name = 'berth-test',
): Promise<{ caCert: string; caKey: string; cert: string; key: string }> {
  const ca = await selfSigned(dir, 'ca', `${name}-ca`, { ca: true });
  const server = await issueCert(ca, dir, 'server', {
    subject: '/CN=127.0.0.1',
    usage: 'server',
    altNames: ['IP:127.0.0.1', 'DNS:localhost'],
  });
  return { caCert: ca.cert, caKey: ca.key, cert: server.cert, key: server.key };
}

export async function writeHtpasswd(file: string, users: Record<string, string>): Promise<void> {
  // bcrypt through libxcrypt, via the system python's stdlib crypt module (no extra package).
  const script =
    'import crypt,json,sys\n' +
    'for u,p in json.load(sys.stdin).items(): print(u+":"+crypt.crypt(p, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))';
  const out = await execFile('/usr/bin/python3', ['-W', 'ignore', '-c', script], {
    input: JSON.stringify(users),
  });
  if (!out.includes('$2')) throw new Error(`python3 crypt did not produce bcrypt hashes: ${out}`);
  await writeFile(file, out);
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

export async function startTokenIssuer(
  dir: string,
  users: Record<string, string>,
  anonymousPull: boolean,
  ttl: number,
): Promise<{ issuer: TokenIssuer; bundle: string; close: () => Promise<void> }> {
  const { key, cert } = await selfSigned(dir, 'token', 'berth-test-token-issuer');
  const privateKey = createPrivateKey(await readFile(key));
  const certDer = new X509Certificate(await readFile(cert)).raw;
  const service = 'berth-test-registry';
  const issuer: TokenIssuer = { realm: '', service, requests: [] };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scope = url.searchParams.getAll('scope');
    let user: string | undefined;
    const auth = req.headers.authorization;
    if (auth?.startsWith('Basic ')) {
      const [u, p] = Buffer.from(auth.slice(6), 'base64').toString().split(':');
      if (u === undefined || users[u] !== p) {
        res.writeHead(401, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ details: 'invalid credentials' }));
        return;
      }
      user = u;
    }
    issuer.requests.push(user === undefined ? { scope } : { scope, user });
    const access = scope.flatMap((s) => {
      const [type, name, actions] = s.split(':');
      if (type !== 'repository' || !name || !actions) return [];
      const granted = user ? actions.split(',') : anonymousPull ? ['pull'] : [];
      return [{ type, name, actions: granted.filter((a) => actions.split(',').includes(a)) }];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = { typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] };
    const claims = {
      iss: 'berth-test-issuer',
      sub: user ?? '',
      aud: service,
      exp: now + ttl,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const signature = sign('sha256', Buffer.from(signingInput), {
      key: privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    const token = `${signingInput}.${b64url(signature)}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({ token, access_token: token, expires_in: ttl, issued_at: new Date().toISOString() }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer.realm = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/token`;
  return {
    issuer,
    bundle: cert,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
