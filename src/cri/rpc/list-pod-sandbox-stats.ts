/** ListPodSandboxStats: usage of the sandboxes matching the filter. */
import type { ListPodSandboxStatsRequest__Output } from '../generated/runtime/v1/ListPodSandboxStatsRequest.js';
import type { ListPodSandboxStatsResponse } from '../generated/runtime/v1/ListPodSandboxStatsResponse.js';
import { podSandboxStatsFilterFromWire, podSandboxStatsToWire } from '../convert/stats.js';
import type { UnaryRpc } from './context.js';

export const listPodSandboxStats: UnaryRpc<
  ListPodSandboxStatsRequest__Output,
  ListPodSandboxStatsResponse
> = async (request, ctx) => {
  const stats = await ctx.backend.listPodSandboxStats(
    podSandboxStatsFilterFromWire(request.filter),
    ctx.call,
  );
  return { stats: stats.map(podSandboxStatsToWire) };
};
