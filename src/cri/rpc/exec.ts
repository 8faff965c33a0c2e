/** Exec: prepares a streaming exec session; the URL points at Berth's streaming server. */
import type { ExecRequest__Output } from '../generated/runtime/v1/ExecRequest.js';
import type { ExecResponse } from '../generated/runtime/v1/ExecResponse.js';
import { invalid, requireId, validateStringList } from '../validate.js';
import type { UnaryRpc } from './context.js';
import { validateStreams } from './streams.js';

export const exec: UnaryRpc<ExecRequest__Output, ExecResponse> = async (request, ctx) => {
  const containerId = requireId('container_id', request.container_id);
  if (request.cmd.length === 0) throw invalid('cmd', 'is empty: a command is required');
  validateStreams(request);
  const url = await ctx.backend.exec(
    {
      containerId,
      cmd: validateStringList('cmd', request.cmd),
      tty: request.tty,
      stdin: request.stdin,
      stdout: request.stdout,
      stderr: request.stderr,
    },
    ctx.call,
  );
  return { url };
};
