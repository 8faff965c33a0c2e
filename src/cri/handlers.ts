/**
 * The RuntimeService and ImageService handler tables. Their types come from the generated
 * service definitions, so the compiler refuses a table that misses an RPC of the proto:
 * every RPC has a handler, and a new cri-api version fails the build until it is handled.
 */
import type { ImageServiceHandlers } from './generated/runtime/v1/ImageService.js';
import type { RuntimeServiceHandlers } from './generated/runtime/v1/RuntimeService.js';
import type { CallWrappers } from './server-calls.js';
import { attach } from './rpc/attach.js';
import { checkpointContainer } from './rpc/checkpoint-container.js';
import { containerStats } from './rpc/container-stats.js';
import { containerStatus } from './rpc/container-status.js';
import { createContainer } from './rpc/create-container.js';
import { exec } from './rpc/exec.js';
import { execSync } from './rpc/exec-sync.js';
import { getContainerEvents } from './rpc/get-container-events.js';
import { imageFsInfo } from './rpc/image-fs-info.js';
import { imageStatus } from './rpc/image-status.js';
import { listContainerStats } from './rpc/list-container-stats.js';
import { listContainers } from './rpc/list-containers.js';
import { listImages } from './rpc/list-images.js';
import { listMetricDescriptors } from './rpc/list-metric-descriptors.js';
import { listPodSandbox } from './rpc/list-pod-sandbox.js';
import { listPodSandboxMetrics } from './rpc/list-pod-sandbox-metrics.js';
import { listPodSandboxStats } from './rpc/list-pod-sandbox-stats.js';
import { podSandboxStats } from './rpc/pod-sandbox-stats.js';
import { podSandboxStatus } from './rpc/pod-sandbox-status.js';
import { portForward } from './rpc/port-forward.js';
import { pullImage } from './rpc/pull-image.js';
import { removeContainer } from './rpc/remove-container.js';
import { removeImage } from './rpc/remove-image.js';
import { removePodSandbox } from './rpc/remove-pod-sandbox.js';
import { reopenContainerLog } from './rpc/reopen-container-log.js';
import { runPodSandbox } from './rpc/run-pod-sandbox.js';
import { runtimeConfig } from './rpc/runtime-config.js';
import { status } from './rpc/runtime-status.js';
import { startContainer } from './rpc/start-container.js';
import { stopContainer } from './rpc/stop-container.js';
import { stopPodSandbox } from './rpc/stop-pod-sandbox.js';
import { streamContainerStats } from './rpc/stream-container-stats.js';
import { streamContainers } from './rpc/stream-containers.js';
import { streamImages } from './rpc/stream-images.js';
import { streamPodSandboxMetrics } from './rpc/stream-pod-sandbox-metrics.js';
import { streamPodSandboxStats } from './rpc/stream-pod-sandbox-stats.js';
import { streamPodSandboxes } from './rpc/stream-pod-sandboxes.js';
import { updateContainerResources } from './rpc/update-container-resources.js';
import { updatePodSandboxResources } from './rpc/update-pod-sandbox-resources.js';
import { updateRuntimeConfig } from './rpc/update-runtime-config.js';
import { version } from './rpc/version.js';

export function runtimeServiceHandlers({ unary, stream }: CallWrappers): RuntimeServiceHandlers {
  return {
    Version: unary('Version', version),
    RunPodSandbox: unary('RunPodSandbox', runPodSandbox),
    StopPodSandbox: unary('StopPodSandbox', stopPodSandbox),
    RemovePodSandbox: unary('RemovePodSandbox', removePodSandbox),
    PodSandboxStatus: unary('PodSandboxStatus', podSandboxStatus),
    ListPodSandbox: unary('ListPodSandbox', listPodSandbox),
    StreamPodSandboxes: stream('StreamPodSandboxes', streamPodSandboxes),
    CreateContainer: unary('CreateContainer', createContainer),
    StartContainer: unary('StartContainer', startContainer),
    StopContainer: unary('StopContainer', stopContainer),
    RemoveContainer: unary('RemoveContainer', removeContainer),
    ListContainers: unary('ListContainers', listContainers),
    StreamContainers: stream('StreamContainers', streamContainers),
    ContainerStatus: unary('ContainerStatus', containerStatus),
    UpdateContainerResources: unary('UpdateContainerResources', updateContainerResources),
    ReopenContainerLog: unary('ReopenContainerLog', reopenContainerLog),
    ExecSync: unary('ExecSync', execSync),
    Exec: unary('Exec', exec),
    Attach: unary('Attach', attach),
    PortForward: unary('PortForward', portForward),
    ContainerStats: unary('ContainerStats', containerStats),
    ListContainerStats: unary('ListContainerStats', listContainerStats),
    StreamContainerStats: stream('StreamContainerStats', streamContainerStats),
    PodSandboxStats: unary('PodSandboxStats', podSandboxStats),
    ListPodSandboxStats: unary('ListPodSandboxStats', listPodSandboxStats),
    StreamPodSandboxStats: stream('StreamPodSandboxStats', streamPodSandboxStats),
    UpdateRuntimeConfig: unary('UpdateRuntimeConfig', updateRuntimeConfig),
    Status: unary('Status', status),
    CheckpointContainer: unary('CheckpointContainer', checkpointContainer),
    GetContainerEvents: stream('GetContainerEvents', getContainerEvents),
    ListMetricDescriptors: unary('ListMetricDescriptors', listMetricDescriptors),
    ListPodSandboxMetrics: unary('ListPodSandboxMetrics', listPodSandboxMetrics),
    StreamPodSandboxMetrics: stream('StreamPodSandboxMetrics', streamPodSandboxMetrics),
    RuntimeConfig: unary('RuntimeConfig', runtimeConfig),
    UpdatePodSandboxResources: unary('UpdatePodSandboxResources', updatePodSandboxResources),
  };
}

export function imageServiceHandlers({ unary, stream }: CallWrappers): ImageServiceHandlers {
  return {
    ListImages: unary('ListImages', listImages),
    StreamImages: stream('StreamImages', streamImages),
    ImageStatus: unary('ImageStatus', imageStatus),
    PullImage: unary('PullImage', pullImage),
    RemoveImage: unary('RemoveImage', removeImage),
    ImageFsInfo: unary('ImageFsInfo', imageFsInfo),
  };
}
