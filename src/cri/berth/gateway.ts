/**
 * berthd's CRI gateway as one unit: the streaming server (loopback, random port) and the CRI
 * socket served with BerthCriBackend. berthd starts it after the Temporal worker (every
 * mutating call runs a workflow) and stops it before the worker.
 */
import type { Logger } from '../../common/logger.js';
import { BerthCriBackend } from '../berth-backend.js';
import { CriServer } from '../server.js';
import type { CriCallObserver } from '../server-calls.js';
import { StreamingServer } from '../streaming/server.js';
import type { BerthCriDeps } from './deps.js';
import { BerthStreamingBackend } from './streaming.js';

export interface CriGateway {
  readonly socketPath: string;
  readonly streamingUrl: string;
  close(): Promise<void>;
}

export async function startCriGateway(
  deps: Omit<BerthCriDeps, 'streaming' | 'runtimeHandlers'> & { runtimeHandlers?: string[] },
  socketPath: string,
  logger: Logger,
  onCall?: CriCallObserver,
): Promise<CriGateway> {
  const streaming = new StreamingServer({ backend: new BerthStreamingBackend(deps), logger });
  await streaming.start();
  const backend = new BerthCriBackend({
    ...deps,
    streaming,
    runtimeHandlers: deps.runtimeHandlers ?? ['runc', 'runc-debian', 'crun', 'runsc'],
  });
  const server = new CriServer({ backend, logger, ...(onCall ? { onCall } : {}) });
  try {
    await server.listen(socketPath);
  } catch (err) {
    await streaming.close();
    throw err;
  }
  return {
    socketPath,
    streamingUrl: streaming.baseUrl,
    async close() {
      await server.close();
      await streaming.close();
    },
  };
}
