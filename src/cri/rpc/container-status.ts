/** ContainerStatus: NotFound for an unknown id; `info` only when verbose. */
import type { ContainerStatusRequest__Output } from '../generated/runtime/v1/ContainerStatusRequest.js';
import type { ContainerStatusResponse } from '../generated/runtime/v1/ContainerStatusResponse.js';
import { containerStatusToWire } from '../convert/container.js';
import { requireId } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const containerStatus: UnaryRpc<ContainerStatusRequest__Output, ContainerStatusResponse> = async (
  request,
  ctx,
) => {
  const id = requireId('container_id', request.container_id);
  const result = await ctx.backend.containerStatus(id, request.verbose, ctx.call);
  return { status: containerStatusToWire(result.status), info: request.verbose ? { ...result.info } : {} };
};
