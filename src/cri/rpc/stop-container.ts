/**
 * StopContainer: stop signal, grace period, then SIGKILL. Idempotent, as the CRI says: a stopped
 * container and an unknown id (already removed) both succeed. containerd 1.6 answers NotFound for
 * the latter; containerd 2.x and CRI-O follow the spec, and so does critest's idempotence spec.
 */
import type { StopContainerRequest__Output } from '../generated/runtime/v1/StopContainerRequest.js';
import type { StopContainerResponse } from '../generated/runtime/v1/StopContainerResponse.js';
import { requireId, requireSeconds } from '../validate.js';
import { ignoreNotFound, type UnaryRpc } from './context.js';

export const stopContainer: UnaryRpc<StopContainerRequest__Output, StopContainerResponse> = async (
  request,
  ctx,
) => {
  const id = requireId('container_id', request.container_id);
  const timeout = requireSeconds('timeout', request.timeout);
  await ignoreNotFound(ctx.backend.stopContainer(id, timeout, ctx.call));
  return {};
};
