/** ListImages: every image, or those matching the filter's image reference or id. */
import type { ListImagesRequest__Output } from '../generated/runtime/v1/ListImagesRequest.js';
import type { ListImagesResponse } from '../generated/runtime/v1/ListImagesResponse.js';
import { imageSpecFromWire, imageToWire } from '../convert/image.js';
import type { WireImageFilter } from '../wire.js';
import type { ImageSpec } from '../types/image.js';
import type { UnaryRpc } from './context.js';

/** An empty filter image means "all images", as in containerd. */
export function imageFilterFromWire(filter: WireImageFilter | null): ImageSpec | undefined {
  if (!filter?.image || filter.image.image === '') return undefined;
  return imageSpecFromWire('filter.image', filter.image);
}

export const listImages: UnaryRpc<ListImagesRequest__Output, ListImagesResponse> = async (request, ctx) => {
  const images = await ctx.backend.listImages(imageFilterFromWire(request.filter), ctx.call);
  return { images: images.map(imageToWire) };
};
