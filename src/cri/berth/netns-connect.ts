/**
 * A TCP connection to localhost:<port> inside a network namespace, as a socket berthd holds.
 * A Node process cannot enter a namespace on one thread, so a short-lived helper does it:
 * `nsenter --net=<netns>` runs Node, which connects and hands the connected socket back over
 * its IPC channel (the socket stays in the namespace it was created in), then exits.
 */
import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { FailedPreconditionError } from '../../common/errors.js';

// Runs inside the namespace. Reports failures as a message; never prints to stdout.
const HELPER = `
const net = require('node:net');
const port = Number(process.argv[1]);
const socket = net.connect({ port, host: '127.0.0.1' });
socket.once('connect', () => { socket.pause(); process.send({ ok: true }, socket, () => process.exit(0)); });
socket.once('error', (err) => process.send({ ok: false, error: err.code ? err.code + ' ' + err.message : err.message }, () => process.exit(0)));
`;

export async function connectInNetns(
  netnsPath: string | undefined,
  port: number,
  signal: AbortSignal,
): Promise<Socket> {
  if (!netnsPath) return connectHere(port);
  const child = spawn('nsenter', [`--net=${netnsPath}`, '--', process.execPath, '-e', HELPER, String(port)], {
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const onAbort = (): void => void child.kill('SIGKILL');
  signal.addEventListener('abort', onAbort);
  try {
    return await new Promise<Socket>((resolve, reject) => {
      child.once('message', (message: { ok: boolean; error?: string }, handle: unknown) => {
        if (message.ok && handle) resolve(handle as Socket);
        else
          reject(
            new FailedPreconditionError(
              `connecting to port ${port} in the pod: ${message.error ?? 'no socket'}`,
            ),
          );
      });
      child.once('error', (err) => reject(new FailedPreconditionError(`cannot run nsenter: ${err.message}`)));
      child.once('exit', (code) =>
        reject(
          new FailedPreconditionError(
            `connecting to port ${port} in the pod failed (helper exited ${code}): ${stderr.trim() || 'no output'}`,
          ),
        ),
      );
    });
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function connectHere(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => resolve(socket));
    socket.once('error', (err) =>
      reject(new FailedPreconditionError(`connecting to port ${port}: ${err.message}`)),
    );
  });
}
