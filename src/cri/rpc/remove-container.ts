/** RemoveContainer: idempotent; removing a container that is gone succeeds. */
import type { RemoveContainerRequest__Output } from '../generated/runtime/v1/RemoveContainerRequest.js';
import type { RemoveContainerResponse } from '../generated/runtime/v1/RemoveContainerResponse.js';
import { requireId } from '../validate.js';
import { ignoreNotFound, type UnaryRpc } from './context.js';

export const removeContainer: UnaryRpc<RemoveContainerRequest__Output, RemoveContainerResponse> = async (
  request,
  ctx,
) => {
  const id = requireId('container_id', request.container_id);
  await ignoreNotFound(ctx.backend.removeContainer(id, ctx.call));
  return {};
};
