/** ExecSync: runs a command in the container to completion and returns its output and exit code. */
import type { ExecSyncRequest__Output } from '../generated/runtime/v1/ExecSyncRequest.js';
import type { ExecSyncResponse } from '../generated/runtime/v1/ExecSyncResponse.js';
import { invalid, requireId, requireSeconds, validateStringList } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const execSync: UnaryRpc<ExecSyncRequest__Output, ExecSyncResponse> = async (request, ctx) => {
  const id = requireId('container_id', request.container_id);
  if (request.cmd.length === 0) throw invalid('cmd', 'is empty: a command is required');
  const cmd = validateStringList('cmd', request.cmd);
  const timeout = requireSeconds('timeout', request.timeout);
  const result = await ctx.backend.execSync(id, cmd, timeout, ctx.call);
  return { stdout: result.stdout, stderr: result.stderr, exit_code: result.exitCode };
};
