/** ContainerStats: one container's usage; NotFound for an unknown id. */
import type { ContainerStatsRequest__Output } from '../generated/runtime/v1/ContainerStatsRequest.js';
import type { ContainerStatsResponse } from '../generated/runtime/v1/ContainerStatsResponse.js';
import { containerStatsToWire } from '../convert/stats.js';
import { requireId } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const containerStats: UnaryRpc<ContainerStatsRequest__Output, ContainerStatsResponse> = async (
  request,
  ctx,
) => {
  const stats = await ctx.backend.containerStats(requireId('container_id', request.container_id), ctx.call);
  return { stats: containerStatsToWire(stats) };
};
