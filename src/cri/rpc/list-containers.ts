/** ListContainers: containers matching the filter (id prefix, state, sandbox, labels). */
import type { ListContainersRequest__Output } from '../generated/runtime/v1/ListContainersRequest.js';
import type { ListContainersResponse } from '../generated/runtime/v1/ListContainersResponse.js';
import { containerFilterFromWire, containerToWire } from '../convert/container.js';
import type { UnaryRpc } from './context.js';

export const listContainers: UnaryRpc<ListContainersRequest__Output, ListContainersResponse> = async (
  request,
  ctx,
) => {
  const items = await ctx.backend.listContainers(containerFilterFromWire(request.filter), ctx.call);
  return { containers: items.map(containerToWire) };
};
