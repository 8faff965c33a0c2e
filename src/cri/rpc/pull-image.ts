/** PullImage: pulls with the request's credentials and returns the image reference. */
import type { PullImageRequest__Output } from '../generated/runtime/v1/PullImageRequest.js';
import type { PullImageResponse } from '../generated/runtime/v1/PullImageResponse.js';
import { authFromWire, imageSpecFromWire } from '../convert/image.js';
import { sandboxSpecFromWire } from '../convert/sandbox.js';
import type { UnaryRpc } from './context.js';

export const pullImage: UnaryRpc<PullImageRequest__Output, PullImageResponse> = async (request, ctx) => {
  const spec = imageSpecFromWire('image', request.image);
  const auth = authFromWire(request.auth);
  // The pod config is advisory here (containerd ignores it); one without metadata (critest sends
  // labels only) is passed on as absent rather than refused.
  const sandbox = request.sandbox_config?.metadata
    ? sandboxSpecFromWire('sandbox_config', request.sandbox_config, '')
    : undefined;
  const imageRef = await ctx.backend.pullImage(spec, auth, sandbox, ctx.call);
  return { image_ref: imageRef };
};
