/** StreamContainerStats: ListContainerStats' answer in chunks (KEP-5825). */
import type { StreamContainerStatsRequest__Output } from '../generated/runtime/v1/StreamContainerStatsRequest.js';
import type { StreamContainerStatsResponse } from '../generated/runtime/v1/StreamContainerStatsResponse.js';
import { containerStatsFilterFromWire, containerStatsToWire } from '../convert/stats.js';
import { chunks, STREAM_CHUNK, type StreamRpc } from './context.js';

export const streamContainerStats: StreamRpc<
  StreamContainerStatsRequest__Output,
  StreamContainerStatsResponse
> = async function* (request, ctx) {
  const stats = await ctx.backend.listContainerStats(containerStatsFilterFromWire(request.filter), ctx.call);
  for (const chunk of chunks(stats, STREAM_CHUNK)) yield { container_stats: chunk.map(containerStatsToWire) };
};
