/** UpdatePodSandboxResources: best effort after kubelet resized the pod cgroup; optional in the backend. */
import { UnimplementedError } from '../../common/errors.js';
import type { UpdatePodSandboxResourcesRequest__Output } from '../generated/runtime/v1/UpdatePodSandboxResourcesRequest.js';
import type { UpdatePodSandboxResourcesResponse } from '../generated/runtime/v1/UpdatePodSandboxResourcesResponse.js';
import { resourcesFromWire } from '../convert/resources.js';
import { requireId } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const updatePodSandboxResources: UnaryRpc<
  UpdatePodSandboxResourcesRequest__Output,
  UpdatePodSandboxResourcesResponse
> = async (request, ctx) => {
  const id = requireId('pod_sandbox_id', request.pod_sandbox_id);
  const overhead = resourcesFromWire('overhead', request.overhead);
  const resources = resourcesFromWire('resources', request.resources);
  if (!ctx.backend.updatePodSandboxResources) {
    throw new UnimplementedError(
      'Berth does not resize pod sandboxes in place yet; kubelet has already resized the pod cgroup',
    );
  }
  await ctx.backend.updatePodSandboxResources(
    id,
    { ...(overhead ? { overhead } : {}), ...(resources ? { resources } : {}) },
    ctx.call,
  );
  return {};
};
