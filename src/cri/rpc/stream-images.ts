/** StreamImages: ListImages' answer in chunks (KEP-5825). */
import type { StreamImagesRequest__Output } from '../generated/runtime/v1/StreamImagesRequest.js';
import type { StreamImagesResponse } from '../generated/runtime/v1/StreamImagesResponse.js';
import { imageToWire } from '../convert/image.js';
import { chunks, STREAM_CHUNK, type StreamRpc } from './context.js';
import { imageFilterFromWire } from './list-images.js';

export const streamImages: StreamRpc<StreamImagesRequest__Output, StreamImagesResponse> = async function* (
  request,
  ctx,
) {
  const images = await ctx.backend.listImages(imageFilterFromWire(request.filter), ctx.call);
  for (const chunk of chunks(images, STREAM_CHUNK)) yield { images: chunk.map(imageToWire) };
};
