/** node:info — the smallest real transition: one activity, proving client → server → worker → activity. */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { RuntimeVersion } from '../activities/node-info.js';

const { collectRuntimeVersions } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export interface NodeInfoResult {
  nodeId: string;
  runtimes: RuntimeVersion[];
}

export async function nodeInfo(nodeId: string): Promise<NodeInfoResult> {
  return { nodeId, runtimes: await collectRuntimeVersions() };
}
