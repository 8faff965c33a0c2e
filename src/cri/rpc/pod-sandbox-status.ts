/** PodSandboxStatus: NotFound for an unknown id; `info` only when verbose. */
import type { PodSandboxStatusRequest__Output } from '../generated/runtime/v1/PodSandboxStatusRequest.js';
import type { PodSandboxStatusResponse } from '../generated/runtime/v1/PodSandboxStatusResponse.js';
import { containerStatusToWire } from '../convert/container.js';
import { sandboxStatusToWire } from '../convert/sandbox.js';
import { requireId } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const podSandboxStatus: UnaryRpc<PodSandboxStatusRequest__Output, PodSandboxStatusResponse> = async (
  request,
  ctx,
) => {
  const id = requireId('pod_sandbox_id', request.pod_sandbox_id);
  const result = await ctx.backend.podSandboxStatus(id, request.verbose, ctx.call);
  return {
    status: sandboxStatusToWire(result.status),
    info: request.verbose ? { ...result.info } : {},
    containers_statuses: result.containers.map(containerStatusToWire),
    // When this status was taken: evented PLEG compares it with the events' timestamps.
    timestamp: (BigInt(result.readAtMs ?? Date.now()) * 1_000_000n).toString(),
  };
};
