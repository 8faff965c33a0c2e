/** RuntimeConfig: tells kubelet which cgroup driver to use (cgroupfs on hosts without systemd). */
import type { RuntimeConfigRequest__Output } from '../generated/runtime/v1/RuntimeConfigRequest.js';
import type { RuntimeConfigResponse } from '../generated/runtime/v1/RuntimeConfigResponse.js';
import type { UnaryRpc } from './context.js';

export const runtimeConfig: UnaryRpc<RuntimeConfigRequest__Output, RuntimeConfigResponse> = async (
  _r,
  ctx,
) => {
  const driver = await ctx.backend.cgroupDriver(ctx.call);
  return { linux: { cgroup_driver: driver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' } };
};
