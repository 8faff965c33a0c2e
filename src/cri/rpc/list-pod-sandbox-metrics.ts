/** ListPodSandboxMetrics: no descriptors are exported (see list-metric-descriptors.ts), so no metrics. */
import type { ListPodSandboxMetricsRequest__Output } from '../generated/runtime/v1/ListPodSandboxMetricsRequest.js';
import type { ListPodSandboxMetricsResponse } from '../generated/runtime/v1/ListPodSandboxMetricsResponse.js';
import type { UnaryRpc } from './context.js';

export const listPodSandboxMetrics: UnaryRpc<
  ListPodSandboxMetricsRequest__Output,
  ListPodSandboxMetricsResponse
> = async () => ({ pod_metrics: [] });
