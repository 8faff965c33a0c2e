/** ListContainerStats: usage of the running containers matching the filter. */
import type { ListContainerStatsRequest__Output } from '../generated/runtime/v1/ListContainerStatsRequest.js';
import type { ListContainerStatsResponse } from '../generated/runtime/v1/ListContainerStatsResponse.js';
import { containerStatsFilterFromWire, containerStatsToWire } from '../convert/stats.js';
import type { UnaryRpc } from './context.js';

export const listContainerStats: UnaryRpc<
  ListContainerStatsRequest__Output,
  ListContainerStatsResponse
> = async (request, ctx) => {
  const stats = await ctx.backend.listContainerStats(containerStatsFilterFromWire(request.filter), ctx.call);
  return { stats: stats.map(containerStatsToWire) };
};
