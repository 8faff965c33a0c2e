/** GET /v1/info (node, versions, live service health, paths) and POST /v1/node-info (runs the node:info workflow). */
import type { Route } from '../router.js';
import type { NodeInfo } from '../types.js';

export interface InfoSource {
  info(): Promise<NodeInfo>;
  runNodeInfoWorkflow(): Promise<unknown>;
}

export function infoRoutes(source: InfoSource): Route[] {
  return [
    { method: 'GET', path: '/v1/info', handler: () => source.info() },
    { method: 'POST', path: '/v1/node-info', handler: () => source.runNodeInfoWorkflow() },
    { method: 'GET', path: '/v1/health', handler: async () => ({ ready: true }) },
  ];
}
