/** ReopenContainerLog: the log writer reopens its file after kubelet rotated it. */
import type { ReopenContainerLogRequest__Output } from '../generated/runtime/v1/ReopenContainerLogRequest.js';
import type { ReopenContainerLogResponse } from '../generated/runtime/v1/ReopenContainerLogResponse.js';
import { requireId } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const reopenContainerLog: UnaryRpc<
  ReopenContainerLogRequest__Output,
  ReopenContainerLogResponse
> = async (request, ctx) => {
  await ctx.backend.reopenContainerLog(requireId('container_id', request.container_id), ctx.call);
  return {};
};
