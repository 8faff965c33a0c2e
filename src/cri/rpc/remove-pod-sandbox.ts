/** RemovePodSandbox: idempotent; removing a sandbox that is gone succeeds. */
import type { RemovePodSandboxRequest__Output } from '../generated/runtime/v1/RemovePodSandboxRequest.js';
import type { RemovePodSandboxResponse } from '../generated/runtime/v1/RemovePodSandboxResponse.js';
import { requireId } from '../validate.js';
import { ignoreNotFound, type UnaryRpc } from './context.js';

export const removePodSandbox: UnaryRpc<RemovePodSandboxRequest__Output, RemovePodSandboxResponse> = async (
  request,
  ctx,
) => {
  const id = requireId('pod_sandbox_id', request.pod_sandbox_id);
  await ignoreNotFound(ctx.backend.removePodSandbox(id, ctx.call));
  return {};
};
