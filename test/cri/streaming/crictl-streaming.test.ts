/**
 * The streaming server driven by the real crictl v1.36 (SPDY, and WebSocket where crictl offers
 * it), over the fake CRI backend and a child-process StreamingBackend: exec (plain, -i, exit
 * codes, stderr), attach, port-forward, and the one-time tokens.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { createServer, connect, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileCapture, type ExecResult } from '../../../src/common/exec.js';
import type { CreateContainerResponse__Output } from '../../../src/cri/generated/runtime/v1/CreateContainerResponse.js';
import type { ExecResponse__Output } from '../../../src/cri/generated/runtime/v1/ExecResponse.js';
import type { RunPodSandboxResponse__Output } from '../../../src/cri/generated/runtime/v1/RunPodSandboxResponse.js';
import { StreamingServer } from '../../../src/cri/streaming/server.js';
import { rpc, startGateway, type Gateway } from '../harness.js';
import { containerConfig, podConfig } from '../requests.js';
import { ChildProcessStreaming, StreamingFakeBackend } from './fake-streaming.js';

const CRICTL = join(process.cwd(), '.tools/bin/crictl');

let g: Gateway;
let streaming: StreamingServer;
let sessions: ChildProcessStreaming;
let config: string;
let podId: string;
let containerId: string;
let echo: Server;
let echoPort: number;

function crictl(args: string[], input?: string): Promise<ExecResult> {
  return execFileCapture(CRICTL, ['--config', config, ...args], { timeoutMs: 30_000, input });
}

beforeAll(async () => {
  if (!existsSync(CRICTL))
    throw new Error(
      `crictl is not at ${CRICTL}: run the setup script (scripts/setup) to build cri-tools v1.36`,
    );
  const backend = new StreamingFakeBackend();
  sessions = new ChildProcessStreaming();
  streaming = new StreamingServer({ backend: sessions, streamCreationTimeoutMs: 5_000 });
  await streaming.start();
  backend.streaming = streaming;
  g = await startGateway(backend);
  config = join(g.dir, 'crictl.yaml');
  const endpoint = `unix://${g.socket}`;
  await writeFile(config, `runtime-endpoint: ${endpoint}\nimage-endpoint: ${endpoint}\ntimeout: 10\n`);
  podId = (
    await rpc<RunPodSandboxResponse__Output>((cb) => g.runtime.RunPodSandbox({ config: podConfig() }, cb))
  ).pod_sandbox_id;
  containerId = (
    await rpc<CreateContainerResponse__Output>((cb) =>
      g.runtime.CreateContainer({ pod_sandbox_id: podId, config: containerConfig() }, cb),
    )
  ).container_id;
  await rpc((cb) => g.runtime.StartContainer({ container_id: containerId }, cb));
  // A TCP server that upper-cases what it gets, as the "pod's" port.
  echo = createServer((socket) => {
    socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
    socket.on('end', () => socket.end());
  });
  await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
  echoPort = (echo.address() as { port: number }).port;
});

afterAll(async () => {
  await g?.close();
  await streaming?.close();
  await new Promise<void>((resolve) => (echo ? echo.close(() => resolve()) : resolve()));
});

describe('crictl exec / attach / port-forward over the streaming server', () => {
  it('exec prints stdout and stderr separately and succeeds', async () => {
    const r = await crictl(['exec', containerId, 'sh', '-c', 'echo out; echo err >&2']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toContain('err\n');
  });

  it('exec -i passes stdin through and its end reaches the process', async () => {
    const r = await crictl(
      ['exec', '-i', containerId, 'sh', '-c', 'tr a-z A-Z; echo done'],
      'hello streams\n',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe('HELLO STREAMS\ndone\n');
  });

  it('exec -i carries more than a frame of data both ways', async () => {
    const big = 'x'.repeat(300_000) + '\n';
    const r = await crictl(['exec', '-i', containerId, 'cat'], big);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBe(big.length);
  });

  it('a non-zero exit code reaches crictl as an error naming the code', async () => {
    const r = await crictl(['exec', containerId, 'sh', '-c', 'exit 3']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('command terminated with exit code 3');
  });

  it('a command that cannot run is reported as the session status', async () => {
    const r = await crictl(['exec', containerId, '/no/such/binary']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('cannot run /no/such/binary');
  });

  it('exec over WebSocket (v5.channel.k8s.io) with stdin', async () => {
    const r = await crictl(
      ['exec', '--transport', 'websocket', '-i', containerId, 'sh', '-c', 'cat; exit 4'],
      'ws in\n',
    );
    expect(r.stdout).toBe('ws in\n');
    expect(r.stderr).toContain('command terminated with exit code 4');
  });

  it('attach -i streams the main process and stdin', async () => {
    const r = await crictl(['attach', '-i', containerId], 'typed\n');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`attached to ${containerId}\ntyped\n`);
  });

  it('port-forward relays a TCP connection both ways', async () => {
    const child = spawn(CRICTL, ['--config', config, 'port-forward', podId, `0:${echoPort}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const localPort = await new Promise<number>((resolve, reject) => {
        let text = '';
        const onData = (d: Buffer): void => {
          text += d.toString();
          const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(text);
          if (m) resolve(Number(m[1]));
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        child.once('exit', (code) => reject(new Error(`crictl port-forward exited ${code}: ${text}`)));
      });
      for (const word of ['first', 'second']) {
        const reply = await new Promise<string>((resolve, reject) => {
          const socket = connect(localPort, '127.0.0.1');
          let got = '';
          socket.on('data', (d: Buffer) => (got += d.toString()));
          socket.on('end', () => resolve(got));
          socket.on('error', reject);
          socket.end(`${word} connection`);
        });
        expect(reply).toBe(`${word.toUpperCase()} CONNECTION`);
      }
      expect(sessions.calls).toContain(`portforward ${podId} ${echoPort}`);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('a port-forward to a closed port reports the error on the error stream', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const child = spawn(CRICTL, ['--config', config, 'port-forward', podId, `0:${port}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    try {
      const localPort = await new Promise<number>((resolve, reject) => {
        const timer = setInterval(() => {
          const m = /Forwarding from 127\.0\.0\.1:(\d+)/.exec(text);
          if (m) {
            clearInterval(timer);
            resolve(Number(m[1]));
          }
        }, 20);
        child.once('exit', (code) => {
          clearInterval(timer);
          reject(new Error(`crictl port-forward exited ${code}: ${text}`));
        });
      });
      await new Promise<void>((resolve) => {
        const socket = connect(localPort, '127.0.0.1');
        socket.on('data', () => undefined);
        socket.on('close', () => resolve());
        socket.on('error', () => resolve());
      });
      await new Promise<void>((resolve) => {
        const poll = setInterval(() => {
          if (text.includes(`error forwarding port ${port}`)) {
            clearInterval(poll);
            resolve();
          }
        }, 20);
        child.once('exit', () => {
          clearInterval(poll);
          resolve();
        });
      });
      expect(text).toContain(`error forwarding port ${port} to pod ${podId}`);
      expect(text).toContain('ECONNREFUSED');
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('a streaming URL works once; a second use is refused with a clear message', async () => {
    const { url } = await rpc<ExecResponse__Output>((cb) =>
      g.runtime.Exec({ container_id: containerId, cmd: ['true'], stdout: true }, cb),
    );
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{20,}$/);
    const upgrade = (): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = httpRequest(url, {
          method: 'POST',
          headers: {
            Connection: 'Upgrade',
            Upgrade: 'SPDY/3.1',
            'X-Stream-Protocol-Version': 'v4.channel.k8s.io',
          },
        });
        req.on('upgrade', (res, socket) => {
          socket.destroy();
          resolve({ status: res.statusCode ?? 0, body: '' });
        });
        req.on('response', (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    expect((await upgrade()).status).toBe(101);
    const second = await upgrade();
    expect(second.status).toBe(404);
    expect(second.body).toContain('unknown or expired streaming token');
  });

  it('a client offering only protocols Berth does not speak is refused with 403 naming both sides', async () => {
    const { url } = await rpc<ExecResponse__Output>((cb) =>
      g.runtime.Exec({ container_id: containerId, cmd: ['true'], stdout: true }, cb),
    );
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(url, {
        method: 'POST',
        headers: {
          Connection: 'Upgrade',
          Upgrade: 'SPDY/3.1',
          'X-Stream-Protocol-Version': 'channel.k8s.io',
        },
      });
      req.on('response', (r) => {
        let body = '';
        r.on('data', (d: Buffer) => (body += d.toString()));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
    expect(res.status).toBe(403);
    expect(res.body).toContain('server supports [v5.channel.k8s.io, v4.channel.k8s.io]');
  });
});
