/** ImageStatus: the image's record, or success with no image when it is not present (per CRI). */
import type { ImageStatusRequest__Output } from '../generated/runtime/v1/ImageStatusRequest.js';
import type { ImageStatusResponse } from '../generated/runtime/v1/ImageStatusResponse.js';
import { imageSpecFromWire, imageToWire } from '../convert/image.js';
import type { UnaryRpc } from './context.js';

export const imageStatus: UnaryRpc<ImageStatusRequest__Output, ImageStatusResponse> = async (
  request,
  ctx,
) => {
  const spec = imageSpecFromWire('image', request.image);
  const result = await ctx.backend.imageStatus(spec, request.verbose, ctx.call);
  return {
    image: result.image ? imageToWire(result.image) : null,
    info: request.verbose && result.image ? { ...result.info } : {},
  };
};
