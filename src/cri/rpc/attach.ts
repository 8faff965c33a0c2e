/** Attach: prepares a streaming attach session to the container's main process. */
import type { AttachRequest__Output } from '../generated/runtime/v1/AttachRequest.js';
import type { AttachResponse } from '../generated/runtime/v1/AttachResponse.js';
import { requireId } from '../validate.js';
import type { UnaryRpc } from './context.js';
import { validateStreams } from './streams.js';

export const attach: UnaryRpc<AttachRequest__Output, AttachResponse> = async (request, ctx) => {
  const containerId = requireId('container_id', request.container_id);
  validateStreams(request);
  const url = await ctx.backend.attach(
    { containerId, tty: request.tty, stdin: request.stdin, stdout: request.stdout, stderr: request.stderr },
    ctx.call,
  );
  return { url };
};
