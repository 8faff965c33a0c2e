/**
 * Starts and stops a real Debian `docker-registry` (distribution 2.8) for tests: on a free
 * 127.0.0.1 port, storage in a temp dir, optionally TLS (a CA made with openssl here),
 * htpasswd basic auth (bcrypt via the system python3's crypt) or token auth (a token
 * issuer in this process, signing ES256 JWTs with an openssl-made key).
 *
 *   const reg = await startRegistry({ tls: true, auth: 'htpasswd' });
 *   await reg.push(layoutDir, 'v1', 'team/app');          // skopeo copy oci:… docker://…
 *   await reg.blobFetches('sha256:…')                      // GETs of that blob, from the access log
 *   await reg.stop();
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { execFile } from '../../src/common/exec.js';
import {
  makeTestCa,
  startTokenIssuer,
  writeHtpasswd,
  type TokenIssuer,
} from '../registry/support/registry-auth.js';

export { makeTestCa, type TokenIssuer };

export interface StartRegistryOptions {
  /** Serve HTTPS with a certificate for 127.0.0.1 signed by a fresh test CA. */
  tls?: boolean;
  /** `htpasswd`: basic auth; `token`: bearer tokens from an in-process issuer. Default none. */
  auth?: 'htpasswd' | 'token';
  /** Users for either auth mode (default `{ tester: 'secret-pw' }`). */
  users?: Record<string, string>;
  /** Token auth: hand pull tokens to anonymous clients too (like Docker Hub). */
  anonymousPull?: boolean;
  /** Token auth: token lifetime in seconds (default 300). */
  tokenTtlSeconds?: number;
}

/** One line of the registry's access log. */
export interface AccessLogEntry {
  method: string;
  path: string;
  status: number;
  bytes: number;
}

export interface TestRegistry {
  /** `127.0.0.1:<port>`: the host part of references. */
  host: string;
  /** `http(s)://127.0.0.1:<port>`. */
  url: string;
  /** PEM file of the CA that signed the registry's certificate (TLS only). */
  caFile?: string;
  users: Record<string, string>;
  tokenIssuer?: TokenIssuer;
  /** Copies `oci:<layoutDir>:<tag>` to `<host>/<repo>:<destTag ?? tag>` with skopeo (all platforms; OCI digests preserved, or converted to Docker v2s2). */
  push(
    layoutDir: string,
    tag: string,
    repo: string,
    opts?: { format?: 'oci' | 'v2s2'; destTag?: string },
  ): Promise<void>;
  /**
   * The registry's access log, including every request answered before this call: the
   * registry logs a request after answering it, so this first sends a marker request and
   * waits for the marker's line.
   */
  accessLog(): Promise<AccessLogEntry[]>;
  /** How many GETs of this blob the registry answered with content (200/206), per `accessLog()`. */
  blobFetches(digest: string): Promise<number>;
  stop(): Promise<void>;
}

const DEFAULT_USERS = { tester: 'secret-pw' };

/** A loopback TCP port free at the time of asking (another process may still take it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

function configYaml(o: {
  port: number;
  storage: string;
  tls?: { cert: string; key: string };
  auth?: string;
}): string {
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${o.storage}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${o.port}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
  ];
  if (o.tls) lines.push('  tls:', `    certificate: ${o.tls.cert}`, `    key: ${o.tls.key}`);
  if (o.auth) lines.push(o.auth);
  return lines.join('\n') + '\n';
}

const ACCESS_LINE = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3}) (\d+|-)/;

async function waitForPort(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`docker-registry exited before listening: ${stderr().trim()}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Starts a registry; call `stop()` in afterAll. */
export async function startRegistry(opts: StartRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await mkdtemp(path.join(tmpdir(), 'berth-registry-'));
  const users = opts.users ?? DEFAULT_USERS;
  const cleanups: (() => Promise<void>)[] = [() => rm(dir, { recursive: true, force: true })];
  try {
    let tls: { cert: string; key: string } | undefined;
    let caFile: string | undefined;
    if (opts.tls) {
      const ca = await makeTestCa(dir);
      tls = { cert: ca.cert, key: ca.key };
      caFile = ca.caCert;
    }
    let authYaml: string | undefined;
    let tokenIssuer: TokenIssuer | undefined;
    if (opts.auth === 'htpasswd') {
      const file = path.join(dir, 'htpasswd');
      await writeHtpasswd(file, users);
      authYaml = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${file}`;
    } else if (opts.auth === 'token') {
      const t = await startTokenIssuer(dir, users, opts.anonymousPull ?? false, opts.tokenTtlSeconds ?? 300);
      cleanups.push(t.close);
      tokenIssuer = t.issuer;
      authYaml =
        `auth:\n  token:\n    realm: ${t.issuer.realm}\n    service: ${t.issuer.service}\n` +
        `    issuer: berth-test-issuer\n    rootcertbundle: ${t.bundle}`;
    }

    // The port is probed free then bound by the registry; another process may take it in
    // between, so a start that fails with "address already in use" picks a new port.
    let child: ChildProcess | undefined;
    let port = 0;
    let log = '';
    let errText = '';
    const logEvents = new EventEmitter();
    for (let attempt = 0; ; attempt++) {
      port = await freePort();
      const config = path.join(dir, 'config.yml');
      const cfg: { port: number; storage: string; tls?: { cert: string; key: string }; auth?: string } = {
        port,
        storage: path.join(dir, 'storage'),
      };
      if (tls) cfg.tls = tls;
      if (authYaml) cfg.auth = authYaml;
      await writeFile(config, configYaml(cfg));
      log = '';
      errText = '';
      const proc = spawn('/usr/bin/docker-registry', ['serve', config], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      proc.stdout?.on('data', (c: Buffer) => {
        log += c.toString();
        logEvents.emit('data');
      });
      proc.stderr?.on('data', (c: Buffer) => {
        errText += c.toString();
        logEvents.emit('data');
      });
      try {
        await waitForPort(port, proc, () => errText);
        child = proc;
        break;
      } catch (err) {
        if (attempt < 5 && errText.includes('address already in use')) continue;
        throw err;
      }
    }
    const running = child;
    cleanups.push(async () => {
      if (running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise((r) => running.once('exit', r));
      running.kill('SIGTERM');
      await exited;
    });

    const host = `127.0.0.1:${port}`;
    const creds = (): string[] => {
      const first = Object.entries(users)[0];
      return opts.auth && first ? ['--dest-creds', `${first[0]}:${first[1]}`] : [];
    };
    const syncLog = async (): Promise<void> => {
      const marker = `berth-log-sync-${randomUUID()}`;
      await new Promise<void>((resolve, reject) => {
        const req = (tls ? https : http).request(
          `${tls ? 'https' : 'http'}://${host}/v2/${marker}/tags/list`,
          { rejectUnauthorized: false },
          (res) => {
            res.resume();
            res.on('end', resolve);
          },
        );
        req.on('error', reject);
        req.end();
      });
      while (!(log + errText).includes(marker)) await once(logEvents, 'data');
    };
    const parseLog = (): AccessLogEntry[] =>
      (log + errText).split('\n').flatMap((line) => {
        const m = ACCESS_LINE.exec(line);
        if (!m || m[2]?.includes('/berth-log-sync-')) return [];
        return [
          {
            method: m[1] ?? '',
            path: m[2] ?? '',
            status: Number(m[3]),
            bytes: m[4] === '-' ? 0 : Number(m[4]),
          },
        ];
      });
    const reg: TestRegistry = {
      host,
      url: `${tls ? 'https' : 'http'}://${host}`,
      users,
      async push(layoutDir, tag, repo, pushOpts = {}) {
        // OCI copies keep every blob as built (skopeo would otherwise compress plain tar layers).
        const format = pushOpts.format === 'v2s2' ? ['--format', 'v2s2'] : ['--preserve-digests'];
        await execFile('skopeo', [
          '--insecure-policy',
          'copy',
          '--quiet',
          '--all',
          '--dest-tls-verify=false',
          ...format,
          ...creds(),
          `oci:${layoutDir}:${tag}`,
          `docker://${host}/${repo}:${pushOpts.destTag ?? tag}`,
        ]);
      },
      async accessLog() {
        await syncLog();
        return parseLog();
      },
      async blobFetches(digest) {
        await syncLog();
        return parseLog().filter(
          (e) =>
            e.method === 'GET' &&
            e.path.endsWith(`/blobs/${digest}`) &&
            (e.status === 200 || e.status === 206),
        ).length;
      },
      async stop() {
        for (const c of cleanups.reverse()) await c();
      },
    };
    if (caFile) reg.caFile = caFile;
    if (tokenIssuer) reg.tokenIssuer = tokenIssuer;
    return reg;
  } catch (err) {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    throw err;
  }
}

/** sha256 of a buffer, `sha256:<hex>`. */
export function sha256Digest(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}
