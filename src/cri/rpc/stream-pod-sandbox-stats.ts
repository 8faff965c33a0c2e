/** StreamPodSandboxStats: ListPodSandboxStats' answer in chunks (KEP-5825). */
import type { StreamPodSandboxStatsRequest__Output } from '../generated/runtime/v1/StreamPodSandboxStatsRequest.js';
import type { StreamPodSandboxStatsResponse } from '../generated/runtime/v1/StreamPodSandboxStatsResponse.js';
import { podSandboxStatsFilterFromWire, podSandboxStatsToWire } from '../convert/stats.js';
import { chunks, STREAM_CHUNK, type StreamRpc } from './context.js';

export const streamPodSandboxStats: StreamRpc<
  StreamPodSandboxStatsRequest__Output,
  StreamPodSandboxStatsResponse
> = async function* (request, ctx) {
  const stats = await ctx.backend.listPodSandboxStats(
    podSandboxStatsFilterFromWire(request.filter),
    ctx.call,
  );
  for (const chunk of chunks(stats, STREAM_CHUNK))
    yield { pod_sandbox_stats: chunk.map(podSandboxStatsToWire) };
};
