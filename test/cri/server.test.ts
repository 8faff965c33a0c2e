import * as grpc from '@grpc/grpc-js';
import { lstat, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FailedPreconditionError } from '../../src/common/errors.js';
import type { VersionResponse__Output } from '../../src/cri/generated/runtime/v1/VersionResponse.js';
import { CriServer } from '../../src/cri/server.js';
import { FakeBackend } from './fake-backend.js';
import { rpc, startGateway, type Gateway } from './harness.js';

const open: Gateway[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const g of open.splice(0)) await g.close();
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'berth-cri-sock-'));
  dirs.push(d);
  return d;
}

describe('CriServer socket', () => {
  it('listens on a 0600 unix socket and answers Version', async () => {
    const g = await startGateway();
    open.push(g);
    expect((await lstat(g.socket)).mode & 0o777).toBe(0o600);
    const v = await rpc<VersionResponse__Output>((cb) => g.runtime.Version({ version: 'v1' }, cb));
    expect(v).toEqual({
      version: '0.1.0',
      runtime_name: 'berth',
      runtime_version: '9.9.9-test',
      runtime_api_version: 'v1',
    });
  });

  it('removes its socket on close', async () => {
    const g = await startGateway();
    await g.server.close();
    expect(existsSync(g.socket)).toBe(false);
    await g.close();
  });

  it('replaces a stale socket nobody serves', async () => {
    const dir = await tempDir();
    const socket = join(dir, 'cri.sock');
    // A socket file left behind by a daemon that was killed without closing it.
    spawnSync(process.execPath, [
      '-e',
      `require('net').createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, 'SIGKILL'))`,
    ]);
    expect((await lstat(socket)).isSocket()).toBe(true);
    const server = new CriServer({ backend: new FakeBackend() });
    await server.listen(socket);
    expect((await lstat(socket)).mode & 0o777).toBe(0o600);
    await server.close();
  });

  it('refuses a socket another live server answers on', async () => {
    const dir = await tempDir();
    const socket = join(dir, 'cri.sock');
    const live = createServer();
    await new Promise<void>((r) => live.listen(socket, r));
    try {
      const server = new CriServer({ backend: new FakeBackend() });
      await expect(server.listen(socket)).rejects.toThrow(FailedPreconditionError);
      await expect(server.listen(socket)).rejects.toThrow(/another running process/);
      expect((await lstat(socket)).isSocket()).toBe(true);
    } finally {
      await new Promise<void>((r) => live.close(() => r()));
    }
  });

  it('refuses to replace a path that is not a socket', async () => {
    const dir = await tempDir();
    const path = join(dir, 'cri.sock');
    await writeFile(path, 'precious');
    const server = new CriServer({ backend: new FakeBackend() });
    await expect(server.listen(path)).rejects.toThrow(/is not a socket/);
    expect((await lstat(path)).isFile()).toBe(true);
  });

  it('names a missing socket directory', async () => {
    const dir = await tempDir();
    const server = new CriServer({ backend: new FakeBackend() });
    await expect(server.listen(join(dir, 'missing', 'cri.sock'))).rejects.toThrow(
      `the CRI socket's directory ${join(dir, 'missing')} does not exist`,
    );
  });

  it('ends open event streams with UNAVAILABLE when it closes', async () => {
    const g = await startGateway();
    open.push(g);
    const stream = g.runtime.GetContainerEvents({});
    const ended = new Promise<grpc.ServiceError>((resolve) => stream.on('error', resolve));
    await g.backend.waitForSubscribers(1);
    await g.server.close();
    const err = await ended;
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(g.backend.subscriberCount).toBe(0);
  });

  it("aborts a call's signal when the client cancels it, and not after it was answered", async () => {
    const g = await startGateway();
    open.push(g);
    const signals: AbortSignal[] = [];
    let entered!: () => void;
    const inBackend = new Promise<void>((r) => (entered = r));
    g.backend.override('stopContainer', async (_id, _timeout, ctx) => {
      signals.push(ctx.signal);
      if (signals.length === 2) {
        entered();
        await new Promise((r) => ctx.signal.addEventListener('abort', r, { once: true }));
      }
    });
    await rpc((cb) => g.runtime.StopContainer({ container_id: 'answered', timeout: 0 }, cb));
    const cancelled = g.runtime.StopContainer({ container_id: 'cancelled', timeout: 0 }, () => undefined);
    await inBackend;
    cancelled.cancel();
    await new Promise<void>((r) => signals[1]!.addEventListener('abort', () => r(), { once: true }));
    // grpc-js reports every answered call as 'cancelled' too: the first call's signal stays quiet.
    expect(signals[0]!.aborted).toBe(false);
    expect(signals[1]!.aborted).toBe(true);
  });

  it('lets a unary call in flight finish when it closes', async () => {
    const g = await startGateway();
    open.push(g);
    let entered!: () => void;
    const inBackend = new Promise<void>((r) => (entered = r));
    let finish!: () => void;
    g.backend.override('startContainer', () => {
      entered();
      return new Promise<void>((r) => (finish = r));
    });
    const call = rpc((cb) => g.runtime.StartContainer({ container_id: 'abc' }, cb));
    await inBackend;
    const closing = g.server.close();
    finish();
    await expect(call).resolves.toEqual({});
    await closing;
  });
});
