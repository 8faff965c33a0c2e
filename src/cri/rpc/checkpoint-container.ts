/**
 * CheckpointContainer (KEP-2008): a checkpoint archive of a running container at `location`, taken
 * with CRIU while it keeps running. A backend without checkpoints answers UNIMPLEMENTED.
 */
import { UnimplementedError } from '../../common/errors.js';
import type { CheckpointContainerRequest__Output } from '../generated/runtime/v1/CheckpointContainerRequest.js';
import type { CheckpointContainerResponse } from '../generated/runtime/v1/CheckpointContainerResponse.js';
import { requireAbsolutePath, requireId, requireSeconds } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const checkpointContainer: UnaryRpc<
  CheckpointContainerRequest__Output,
  CheckpointContainerResponse
> = async (request, ctx) => {
  const id = requireId('container_id', request.container_id);
  const location = requireAbsolutePath('location', request.location);
  const timeout = requireSeconds('timeout', request.timeout);
  if (!ctx.backend.checkpointContainer) {
    throw new UnimplementedError('this backend does not checkpoint containers');
  }
  await ctx.backend.checkpointContainer(id, location, timeout, ctx.call);
  return {};
};
