/** PodSandboxStats: one sandbox's usage with its containers'; NotFound for an unknown id. */
import type { PodSandboxStatsRequest__Output } from '../generated/runtime/v1/PodSandboxStatsRequest.js';
import type { PodSandboxStatsResponse } from '../generated/runtime/v1/PodSandboxStatsResponse.js';
import { podSandboxStatsToWire } from '../convert/stats.js';
import { requireId } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const podSandboxStats: UnaryRpc<PodSandboxStatsRequest__Output, PodSandboxStatsResponse> = async (
  request,
  ctx,
) => {
  const stats = await ctx.backend.podSandboxStats(
    requireId('pod_sandbox_id', request.pod_sandbox_id),
    ctx.call,
  );
  return { stats: podSandboxStatsToWire(stats) };
};
