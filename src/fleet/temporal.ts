/**
 * Running workflows per node, from Temporal's visibility (the `BerthNode` search attribute every
 * transition carries). Optional: `berth fleet nodes --temporal-address`. A failure is reported per
 * node, never thrown: NATS's view of the fleet stands without it.
 */
import { errorMessage } from '../common/errors.js';

export type RunningCount = { running: number } | { runningError: string };

export function runningQuery(nodeId: string): string {
  return `BerthNode="${nodeId}" AND ExecutionStatus="Running"`;
}

export async function runningPerNode(
  address: string,
  namespace: string,
  nodes: readonly string[],
  timeoutMs = 5_000,
): Promise<Map<string, RunningCount>> {
  const out = new Map<string, RunningCount>();
  const failAll = (why: string) => {
    for (const n of nodes) out.set(n, { runningError: why });
    return out;
  };
  // Loaded only when asked for: the client is heavy and most runs do not need it.
  const { Connection, WorkflowClient } = await import('@temporalio/client');
  let connection: Awaited<ReturnType<typeof Connection.connect>>;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
  } catch (err) {
    return failAll(`cannot reach Temporal at ${address}: ${errorMessage(err)}`);
  }
  try {
    const client = new WorkflowClient({ connection, namespace });
    for (const node of nodes) {
      if (!/^[A-Za-z0-9_-]+$/.test(node)) {
        out.set(node, { runningError: 'not a node id Temporal can be queried for' });
        continue;
      }
      try {
        const r = await connection.withDeadline(Date.now() + timeoutMs, () =>
          client.count(runningQuery(node)),
        );
        out.set(node, { running: r.count });
      } catch (err) {
        out.set(node, { runningError: `visibility query failed: ${errorMessage(err)}` });
      }
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
  return out;
}
