/** ListPodSandbox: sandboxes matching the filter (id prefix, state, labels). */
import type { ListPodSandboxRequest__Output } from '../generated/runtime/v1/ListPodSandboxRequest.js';
import type { ListPodSandboxResponse } from '../generated/runtime/v1/ListPodSandboxResponse.js';
import { sandboxFilterFromWire, sandboxToWire } from '../convert/sandbox.js';
import type { UnaryRpc } from './context.js';

export const listPodSandbox: UnaryRpc<ListPodSandboxRequest__Output, ListPodSandboxResponse> = async (
  request,
  ctx,
) => {
  const items = await ctx.backend.listPodSandboxes(sandboxFilterFromWire(request.filter), ctx.call);
  return { items: items.map(sandboxToWire) };
};
