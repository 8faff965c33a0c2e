/** RemoveImage: idempotent; removing an image that is gone succeeds. */
import type { RemoveImageRequest__Output } from '../generated/runtime/v1/RemoveImageRequest.js';
import type { RemoveImageResponse } from '../generated/runtime/v1/RemoveImageResponse.js';
import { imageSpecFromWire } from '../convert/image.js';
import { ignoreNotFound, type UnaryRpc } from './context.js';

export const removeImage: UnaryRpc<RemoveImageRequest__Output, RemoveImageResponse> = async (
  request,
  ctx,
) => {
  const spec = imageSpecFromWire('image', request.image);
  await ignoreNotFound(ctx.backend.removeImage(spec, ctx.call));
  return {};
};
