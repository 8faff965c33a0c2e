/** ImageFsInfo: usage of the filesystems holding images and writable layers. */
import type { ImageFsInfoRequest__Output } from '../generated/runtime/v1/ImageFsInfoRequest.js';
import type { ImageFsInfoResponse } from '../generated/runtime/v1/ImageFsInfoResponse.js';
import { fsUsageToWire } from '../convert/image.js';
import type { UnaryRpc } from './context.js';

export const imageFsInfo: UnaryRpc<ImageFsInfoRequest__Output, ImageFsInfoResponse> = async (
  _request,
  ctx,
) => {
  const info = await ctx.backend.imageFsInfo(ctx.call);
  return {
    image_filesystems: info.imageFilesystems.map(fsUsageToWire),
    container_filesystems: info.containerFilesystems.map(fsUsageToWire),
  };
};
