/**
 * Status: RuntimeReady and NetworkReady from the backend. A backend that cannot answer (its
 * dependencies down) is reported as not ready with the reason, rather than as an RPC error,
 * so kubelet marks the node NotReady with a message a human can act on.
 */
import { errorMessage } from '../../common/errors.js';
import type { StatusRequest__Output } from '../generated/runtime/v1/StatusRequest.js';
import type { StatusResponse } from '../generated/runtime/v1/StatusResponse.js';
import type { RuntimeCondition, RuntimeStatus } from '../types/runtime.js';
import type { UnaryRpc } from './context.js';

export const REQUIRED_CONDITIONS = ['RuntimeReady', 'NetworkReady'] as const;

function withRequiredConditions(conditions: RuntimeCondition[]): RuntimeCondition[] {
  const out = [...conditions];
  for (const type of REQUIRED_CONDITIONS) {
    if (!out.some((c) => c.type === type)) {
      out.push({ type, status: false, reason: 'NotReported', message: `the backend did not report ${type}` });
    }
  }
  return out;
}

export const status: UnaryRpc<StatusRequest__Output, StatusResponse> = async (request, ctx) => {
  let result: RuntimeStatus;
  try {
    result = await ctx.backend.status(request.verbose, ctx.call);
  } catch (err) {
    if (ctx.call.signal.aborted) throw err;
    const message = `cannot get the runtime status: ${errorMessage(err)}`;
    result = {
      conditions: REQUIRED_CONDITIONS.map((type) => ({
        type,
        status: false,
        reason: 'StatusUnavailable',
        message,
      })),
      handlers: [],
      features: { supplementalGroupsPolicy: false, userNamespacesHostNetwork: false },
      info: {},
    };
  }
  return {
    status: { conditions: withRequiredConditions(result.conditions) },
    info: request.verbose ? { ...result.info } : {},
    runtime_handlers: result.handlers.map((h) => ({
      name: h.name,
      features: { recursive_read_only_mounts: h.recursiveReadOnlyMounts, user_namespaces: h.userNamespaces },
    })),
    features: {
      supplemental_groups_policy: result.features.supplementalGroupsPolicy,
      user_namespaces_host_network: result.features.userNamespacesHostNetwork,
    },
  };
};
