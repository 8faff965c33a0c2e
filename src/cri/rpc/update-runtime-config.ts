/** UpdateRuntimeConfig: kubelet hands over the node's pod CIDR(s), comma-separated for dual stack. */
import { isIP } from 'node:net';
import type { UpdateRuntimeConfigRequest__Output } from '../generated/runtime/v1/UpdateRuntimeConfigRequest.js';
import type { UpdateRuntimeConfigResponse } from '../generated/runtime/v1/UpdateRuntimeConfigResponse.js';
import { invalid } from '../validate.js';
import type { UnaryRpc } from './context.js';

const FIELD = 'runtime_config.network_config.pod_cidr';

function validateCidrs(value: string): void {
  for (const cidr of value.split(',')) {
    const [address = '', prefix, extra] = cidr.trim().split('/');
    const family = isIP(address);
    const bits = Number(prefix);
    const max = family === 6 ? 128 : 32;
    if (family === 0 || extra !== undefined || prefix === undefined || !/^\d+$/.test(prefix) || bits > max) {
      throw invalid(FIELD, `${JSON.stringify(cidr)} is not a CIDR like 10.88.0.0/16`);
    }
  }
}

export const updateRuntimeConfig: UnaryRpc<
  UpdateRuntimeConfigRequest__Output,
  UpdateRuntimeConfigResponse
> = async (request, ctx) => {
  const podCidr = request.runtime_config?.network_config?.pod_cidr ?? '';
  // Kubelet sends an empty CIDR when it has none: nothing to change (as containerd answers).
  if (podCidr === '') return {};
  validateCidrs(podCidr);
  await ctx.backend.updateRuntimeConfig({ podCidr }, ctx.call);
  return {};
};
