/** UpdateContainerResources: new Linux limits for a container, validated before the backend sees them. */
import type { UpdateContainerResourcesRequest__Output } from '../generated/runtime/v1/UpdateContainerResourcesRequest.js';
import type { UpdateContainerResourcesResponse } from '../generated/runtime/v1/UpdateContainerResourcesResponse.js';
import { resourcesFromWire } from '../convert/resources.js';
import { invalid, requireId, validateStringMap } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const updateContainerResources: UnaryRpc<
  UpdateContainerResourcesRequest__Output,
  UpdateContainerResourcesResponse
> = async (request, ctx) => {
  const id = requireId('container_id', request.container_id);
  if (!request.linux && request.windows) throw invalid('windows', 'resources cannot apply on a Linux node');
  const linux = resourcesFromWire('linux', request.linux);
  const annotations = validateStringMap('annotations', request.annotations);
  await ctx.backend.updateContainerResources(id, { ...(linux ? { linux } : {}), annotations }, ctx.call);
  return {};
};
