/** StreamPodSandboxes: ListPodSandbox's answer in chunks (KEP-5825), each sandbox exactly once. */
import type { StreamPodSandboxesRequest__Output } from '../generated/runtime/v1/StreamPodSandboxesRequest.js';
import type { StreamPodSandboxesResponse } from '../generated/runtime/v1/StreamPodSandboxesResponse.js';
import { sandboxFilterFromWire, sandboxToWire } from '../convert/sandbox.js';
import { chunks, STREAM_CHUNK, type StreamRpc } from './context.js';

export const streamPodSandboxes: StreamRpc<StreamPodSandboxesRequest__Output, StreamPodSandboxesResponse> =
  async function* (request, ctx) {
    const items = await ctx.backend.listPodSandboxes(sandboxFilterFromWire(request.filter), ctx.call);
    for (const chunk of chunks(items, STREAM_CHUNK)) yield { pod_sandboxes: chunk.map(sandboxToWire) };
  };
