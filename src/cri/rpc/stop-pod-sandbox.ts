/** StopPodSandbox: idempotent; stopping a sandbox that is gone succeeds, as kubelet expects. */
import type { StopPodSandboxRequest__Output } from '../generated/runtime/v1/StopPodSandboxRequest.js';
import type { StopPodSandboxResponse } from '../generated/runtime/v1/StopPodSandboxResponse.js';
import { requireId } from '../validate.js';
import { ignoreNotFound, type UnaryRpc } from './context.js';

export const stopPodSandbox: UnaryRpc<StopPodSandboxRequest__Output, StopPodSandboxResponse> = async (
  request,
  ctx,
) => {
  const id = requireId('pod_sandbox_id', request.pod_sandbox_id);
  await ignoreNotFound(ctx.backend.stopPodSandbox(id, ctx.call));
  return {};
};
