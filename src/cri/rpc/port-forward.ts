/**
 * PortForward: prepares a port-forward session into the sandbox's network namespace. The port
 * list may be empty: kubelet then names the ports per stream on the streaming connection.
 */
import type { PortForwardRequest__Output } from '../generated/runtime/v1/PortForwardRequest.js';
import type { PortForwardResponse } from '../generated/runtime/v1/PortForwardResponse.js';
import { invalid, requireId } from '../validate.js';
import type { UnaryRpc } from './context.js';

export const portForward: UnaryRpc<PortForwardRequest__Output, PortForwardResponse> = async (
  request,
  ctx,
) => {
  const id = requireId('pod_sandbox_id', request.pod_sandbox_id);
  request.port.forEach((port, i) => {
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw invalid(`port[${i}]`, `${port} is outside 1..65535`);
  });
  const url = await ctx.backend.portForward(id, [...request.port], ctx.call);
  return { url };
};
