/** RunPodSandbox: validates the pod config and asks the backend to create and start the sandbox. */
import type { RunPodSandboxRequest__Output } from '../generated/runtime/v1/RunPodSandboxRequest.js';
import type { RunPodSandboxResponse } from '../generated/runtime/v1/RunPodSandboxResponse.js';
import { sandboxSpecFromWire } from '../convert/sandbox.js';
import type { UnaryRpc } from './context.js';

export const runPodSandbox: UnaryRpc<RunPodSandboxRequest__Output, RunPodSandboxResponse> = async (
  request,
  ctx,
) => {
  const spec = sandboxSpecFromWire('config', request.config, request.runtime_handler);
  const id = await ctx.backend.runPodSandbox(spec, ctx.call);
  return { pod_sandbox_id: id };
};
