/** NATS health: connect, ask JetStream for the account, report the server's version. */
import { connect } from 'nats';
import { errorMessage } from '../common/errors.js';
import { natsServerList } from '../common/nats-servers.js';
import type { ProbeResult } from './temporal.js';

export async function probeNats(url: string, timeoutMs: number): Promise<ProbeResult> {
  try {
    const nc = await connect({
      servers: natsServerList(url),
      timeout: timeoutMs,
      reconnect: false,
      maxReconnectAttempts: 0,
    });
    try {
      const jsm = await nc.jetstreamManager({ timeout: timeoutMs });
      await jsm.getAccountInfo();
      return { ok: true, version: nc.info?.version ?? 'unknown' };
    } finally {
      await nc.close();
    }
  } catch (err) {
    const message = errorMessage(err);
    return {
      ok: false,
      error: /jetstream/i.test(message) ? `JetStream is not enabled: ${message}` : message,
    };
  }
}
