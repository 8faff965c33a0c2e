/**
 * StopContainer: stop signal, grace period, then SIGKILL. Idempotent for a stopped container;
 * an unknown id is NotFound, as containerd answers (kubelet only stops containers it listed).
 */
import type { StopContainerRequest__Output } from '../generated/runtime/v1/StopContainerRequest.js';
import type { StopContainerResponse } from '../generated/runtime/v1/StopContainerResponse.js';
import { requireId, requireSeconds } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const stopContainer: UnaryRpc<StopContainerRequest__Output, StopContainerResponse> = async (
  request,
  ctx,
) => {
  const id = requireId('container_id', request.container_id);
  const timeout = requireSeconds('timeout', request.timeout);
  await ctx.backend.stopContainer(id, timeout, ctx.call);
  return {};
};
