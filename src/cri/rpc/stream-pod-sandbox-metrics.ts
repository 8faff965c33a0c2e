/**
 * StreamPodSandboxMetrics: the streaming form of ListPodSandboxMetrics. Stream messages carry
 * at least one item, so with no metrics the stream ends at once without a message.
 */
import type { StreamPodSandboxMetricsRequest__Output } from '../generated/runtime/v1/StreamPodSandboxMetricsRequest.js';
import type { StreamPodSandboxMetricsResponse } from '../generated/runtime/v1/StreamPodSandboxMetricsResponse.js';
import type { StreamRpc } from './context.js';

export const streamPodSandboxMetrics: StreamRpc<
  StreamPodSandboxMetricsRequest__Output,
  StreamPodSandboxMetricsResponse
> = () => [];
