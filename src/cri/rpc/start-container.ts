/** StartContainer: starts a created container. */
import type { StartContainerRequest__Output } from '../generated/runtime/v1/StartContainerRequest.js';
import type { StartContainerResponse } from '../generated/runtime/v1/StartContainerResponse.js';
import { requireId } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const startContainer: UnaryRpc<StartContainerRequest__Output, StartContainerResponse> = async (
  request,
  ctx,
) => {
  await ctx.backend.startContainer(requireId('container_id', request.container_id), ctx.call);
  return {};
};
