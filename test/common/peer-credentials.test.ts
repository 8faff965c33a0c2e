/** The peer-credentials addon: the kernel's pid, uid and gid of a unix socket's peer, and its name. */
import { createServer, connect, type Socket } from 'node:net';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  peerCredentials,
  peerCredentialsOfFd,
  peerCredentialsUnavailable,
} from '../../src/common/peer-credentials.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-peercred-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A connected pair of unix sockets in this process: the accepted end and the connecting end. */
async function connectedPair(): Promise<{ accepted: Socket; client: Socket; close: () => Promise<void> }> {
  const server = createServer();
  const path = join(dir, 'test.sock');
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  const client = connect(path);
  await new Promise<void>((resolve) => client.once('connect', resolve));
  const socket = await accepted;
  return {
    accepted: socket,
    client,
    close: async () => {
      client.destroy();
      socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('peer credentials', () => {
  it('is built (npm run build)', () => {
    expect(peerCredentialsUnavailable()).toBeUndefined();
  });

  it("returns this process's own pid, uid, gid and name for a socket it connected to itself", async () => {
    const pair = await connectedPair();
    try {
      const expected = {
        pid: process.pid,
        uid: process.getuid!(),
        gid: process.getgid!(),
        comm: readFileSync('/proc/self/comm', 'utf8').trim(),
      };
      expect(peerCredentials(pair.accepted)).toEqual(expected);
      // Both ends: the connecting side's peer is the listener, this process too.
      expect(peerCredentials(pair.client)).toEqual(expected);
    } finally {
      await pair.close();
    }
  });

  it('refuses a descriptor that is not a socket, naming the error; a closed socket has none', async () => {
    const file = await open(join(dir, 'plain'), 'w');
    try {
      expect(() => peerCredentialsOfFd(file.fd)).toThrow(
        /getsockopt\(SO_PEERCRED\): Socket operation on non-socket/,
      );
    } finally {
      await file.close();
    }
    expect(() => peerCredentialsOfFd(-1)).toThrow(/non-negative integer/);
    const pair = await connectedPair();
    await pair.close();
    expect(peerCredentials(pair.accepted)).toBeUndefined();
  });
});
