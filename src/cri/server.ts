/**
 * CriServer: kubelet's `runtime.v1` RuntimeService and ImageService on a unix socket.
 *
 * The socket is created mode 0600 (bound inside a private 0700 directory, then renamed into
 * place, so it is never reachable with looser permissions). A stale socket left by a crashed
 * daemon is removed; a socket some live process still serves is not (FailedPrecondition),
 * and neither is a path that is not a socket. close() ends the event streams, lets unary calls
 * finish for a grace period, and removes the socket.
 *
 * The listener is ours (node:net), not grpc-js's: each accepted connection's peer credentials
 * (SO_PEERCRED: pid, uid, gid, process name) are read once, then the socket is handed to grpc-js
 * through its connection injector. grpc-js names a call's peer after the socket's remoteAddress
 * (empty on a unix socket), so each socket gets a per-connection name there; a handler finds
 * its caller's credentials under `call.getPeer()` (server-calls.ts).
 */
import * as grpc from '@grpc/grpc-js';
import { chmod, lstat, mkdtemp, rename, rm, stat, unlink } from 'node:fs/promises';
import { connect, createServer, type Server as NetServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { FailedPreconditionError } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import {
  peerCredentials,
  peerCredentialsUnavailable,
  type PeerCredentials,
} from '../common/peer-credentials.js';
import type { CriBackend } from './backend.js';
import { imageServiceHandlers, runtimeServiceHandlers } from './handlers.js';
import { loadCriProto } from './proto.js';
import { createCallWrappers, type CallTracker, type CriCallObserver } from './server-calls.js';
import { berthVersion } from '../common/version.js';

export interface CriServerOptions {
  backend: CriBackend;
  logger?: Logger;
  /** Reported by Version; defaults to package.json's version. */
  runtimeVersion?: string;
  /** How long close() lets unary calls in flight finish before cutting them; default 5 s. */
  closeGraceMs?: number;
  /** Told of every call answered (berthd's metrics). */
  onCall?: CriCallObserver;
}

const DEFAULT_CLOSE_GRACE_MS = 5_000;
// kubelet's own client limit: pulls of images with many tags and big lists must fit.
const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;

export class CriServer {
  private readonly logger: Logger;
  private readonly options: CriServerOptions;
  private server: grpc.Server | undefined;
  private listener: NetServer | undefined;
  /** Peer credentials of each open connection, by the name its socket's remoteAddress reports. */
  private readonly peers = new Map<string, PeerCredentials>();
  private connections = 0;
  private tracker: CallTracker | undefined;
  private socket: { path: string; ino: number } | undefined;

  constructor(options: CriServerOptions) {
    this.options = options;
    this.logger = (options.logger ?? silentLogger).child({ subsystem: 'cri' });
  }

  /** The socket path while listening. */
  get socketPath(): string | undefined {
    return this.socket?.path;
  }

  async listen(socketPath: string): Promise<void> {
    if (this.server)
      throw new FailedPreconditionError(`the CRI server already listens on ${this.socket?.path}`);
    await requireDirectory(dirname(socketPath));
    await removeStaleSocket(socketPath);
    const proto = loadCriProto();
    const wrappers = createCallWrappers(
      this.options.backend,
      this.options.runtimeVersion ?? berthVersion(),
      this.logger,
      this.options.onCall,
      (peer) => this.peers.get(peer),
    );
    const server = new grpc.Server({
      'grpc.max_receive_message_length': MAX_MESSAGE_BYTES,
      'grpc.max_send_message_length': MAX_MESSAGE_BYTES,
      // Nothing reads channelz here, and grpc-js counts every call for it by default.
      'grpc.enable_channelz': 0,
    });
    server.addService(proto.runtime.v1.RuntimeService.service, runtimeServiceHandlers(wrappers));
    server.addService(proto.runtime.v1.ImageService.service, imageServiceHandlers(wrappers));
    const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
    const unavailable = peerCredentialsUnavailable();
    if (unavailable) this.logger.warn(`CRI callers are not recorded: ${unavailable}`);
    const listener = createServer((socket) => injector.injectConnection(this.identify(socket)));

    const privateDir = await mkdtemp(join(dirname(socketPath), '.cri-bind-'));
    try {
      await chmod(privateDir, 0o700);
      const tempSocket = join(privateDir, 'cri.sock');
      await listenOn(listener, tempSocket);
      await chmod(tempSocket, 0o600);
      await rename(tempSocket, socketPath);
    } catch (err) {
      listener.close();
      server.forceShutdown();
      throw err;
    } finally {
      await rm(privateDir, { recursive: true, force: true });
    }
    listener.on('error', (err) => this.logger.error({ err }, 'CRI socket listener failed'));
    this.listener = listener;
    this.server = server;
    this.tracker = wrappers;
    this.socket = { path: socketPath, ino: (await lstat(socketPath)).ino };
    this.logger.info({ socket: socketPath }, 'CRI gateway listening');
  }

  /** Reads the connection's peer credentials once and names the socket so its calls can find them. */
  private identify(socket: Socket): Socket {
    const name = `berth-cri-connection-${++this.connections}`;
    const credentials = peerCredentials(socket);
    if (credentials) {
      this.peers.set(name, credentials);
      socket.once('close', () => this.peers.delete(name));
    }
    Object.defineProperty(socket, 'remoteAddress', { value: name, configurable: true });
    return socket;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.listener?.close();
    this.listener = undefined;
    this.tracker?.endStreams();
    const grace = this.options.closeGraceMs ?? DEFAULT_CLOSE_GRACE_MS;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, grace);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    const socket = this.socket;
    this.socket = undefined;
    if (socket) await unlinkIfSame(socket.path, socket.ino);
    this.logger.info('CRI gateway closed');
  }
}

function listenOn(listener: NetServer, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(path, () => {
      listener.off('error', reject);
      resolve();
    });
  });
}

/** Removes our socket only if it is still the one we created (another server may have replaced it). */
async function unlinkIfSame(path: string, ino: number): Promise<void> {
  try {
    if ((await lstat(path)).ino === ino) await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

async function requireDirectory(dir: string): Promise<void> {
  const isDir = await stat(dir).then(
    (st) => st.isDirectory(),
    () => false,
  );
  if (!isDir)
    throw new FailedPreconditionError(
      `the CRI socket's directory ${dir} does not exist or is not a directory`,
    );
}

async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = (await lstat(path)).isSocket();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!isSocket) {
    throw new FailedPreconditionError(
      `${path} exists and is not a socket: refusing to replace it with the CRI socket`,
    );
  }
  if (await answers(path)) {
    throw new FailedPreconditionError(
      `${path} is served by another running process: is another berthd running?`,
    );
  }
  await unlink(path);
}

/** True when something accepts connections on the socket (a live server, not a stale file). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
