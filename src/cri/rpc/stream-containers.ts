/** StreamContainers: ListContainers' answer in chunks (KEP-5825), each container exactly once. */
import type { StreamContainersRequest__Output } from '../generated/runtime/v1/StreamContainersRequest.js';
import type { StreamContainersResponse } from '../generated/runtime/v1/StreamContainersResponse.js';
import { containerFilterFromWire, containerToWire } from '../convert/container.js';
import { chunks, STREAM_CHUNK, type StreamRpc } from './context.js';

export const streamContainers: StreamRpc<StreamContainersRequest__Output, StreamContainersResponse> =
  async function* (request, ctx) {
    const items = await ctx.backend.listContainers(containerFilterFromWire(request.filter), ctx.call);
    for (const chunk of chunks(items, STREAM_CHUNK)) yield { containers: chunk.map(containerToWire) };
  };
