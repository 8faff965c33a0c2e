/**
 * ListMetricDescriptors: Berth exports no CRI metrics yet (kubelet's stats come from
 * ContainerStats/PodSandboxStats). An empty list is the correct answer for a runtime with no
 * metrics: kubelet then broadcasts none (containerd answers the same when it has none).
 */
import type { ListMetricDescriptorsRequest__Output } from '../generated/runtime/v1/ListMetricDescriptorsRequest.js';
import type { ListMetricDescriptorsResponse } from '../generated/runtime/v1/ListMetricDescriptorsResponse.js';
import type { UnaryRpc } from './context.js';

export const listMetricDescriptors: UnaryRpc<
  ListMetricDescriptorsRequest__Output,
  ListMetricDescriptorsResponse
> = async () => ({ descriptors: [] });
