/**
 * One forwarded connection: bytes from the client's data channel go to a TCP connection to
 * `port` inside the pod's network namespace and back. A failure is reported as text on the
 * error channel (client-go prints it), as kubelet does; the error channel is closed when the
 * connection is done, which is what the client waits for.
 */
import type { Duplex, Writable } from 'node:stream';
import type { Logger } from '../../common/logger.js';
import type { StreamingBackend } from './backend.js';

export async function forwardPort(
  podSandboxId: string,
  port: number,
  data: Duplex,
  error: Writable,
  backend: StreamingBackend,
  signal: AbortSignal,
  logger: Logger,
): Promise<void> {
  try {
    const target = await backend.portForward(podSandboxId, port, signal);
    await splice(data, target);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    logger.debug({ err, podSandboxId, port }, 'port-forward connection failed');
    if (!error.destroyed) error.write(`error forwarding port ${port} to pod ${podSandboxId}: ${message}`);
  } finally {
    if (!data.destroyed && !data.writableEnded) data.end();
    if (!error.destroyed && !error.writableEnded) error.end();
  }
}

/**
 * Copies both ways; each side's end is passed on as a half-close. Done when both directions
 * have ended, or either side fails or goes away.
 */
function splice(client: Duplex, target: Duplex): Promise<void> {
  return new Promise((resolve, reject) => {
    let open = 2;
    let settled = false;
    const settle = (err?: Error): void => {
      if (settled) return;
      settled = true;
      target.destroy();
      if (err) reject(err);
      else resolve();
    };
    const directionDone = (): void => {
      if (--open === 0) settle();
    };
    client.pipe(target, { end: true });
    target.pipe(client, { end: true });
    client.once('end', directionDone);
    target.once('end', directionDone);
    target.once('error', (err) => settle(err));
    client.once('close', () => settle());
    target.once('close', () => {
      if (open > 0 && !target.readableEnded) settle(new Error('the connection in the pod closed'));
    });
  });
}
