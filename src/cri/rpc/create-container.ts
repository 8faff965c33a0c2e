/** CreateContainer: validates the container config (and the pod config sent with it). */
import type { CreateContainerRequest__Output } from '../generated/runtime/v1/CreateContainerRequest.js';
import type { CreateContainerResponse } from '../generated/runtime/v1/CreateContainerResponse.js';
import { containerSpecFromWire } from '../convert/container.js';
import { sandboxSpecFromWire } from '../convert/sandbox.js';
import { requireId } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const createContainer: UnaryRpc<CreateContainerRequest__Output, CreateContainerResponse> = async (
  request,
  ctx,
) => {
  const podSandboxId = requireId('pod_sandbox_id', request.pod_sandbox_id);
  const spec = containerSpecFromWire('config', request.config);
  const sandbox = request.sandbox_config
    ? sandboxSpecFromWire('sandbox_config', request.sandbox_config, '')
    : undefined;
  const id = await ctx.backend.createContainer(podSandboxId, spec, sandbox, ctx.call);
  return { container_id: id };
};
