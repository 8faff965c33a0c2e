/**
 * A CriBackend whose every method answers UnimplementedError naming the method. The daemon
 * extends it and overrides what it has wired so far: a call to anything else answers
 * UNIMPLEMENTED with a reason, never a success that did nothing.
 */
import { UnimplementedError } from '../common/errors.js';
import type { CriBackend } from './backend.js';
import type { ContainerStatusResult, ContainerSummary, ExecSyncResult } from './types/container.js';
import type { ImageFsInfoResult, ImageRecord, ImageStatusResult } from './types/image.js';
import type { CgroupDriver, ContainerEvent, RuntimeStatus } from './types/runtime.js';
import type { PodSandboxStatusResult, PodSandboxSummary } from './types/sandbox.js';
import type { ContainerStats, PodSandboxStats } from './types/stats.js';

function notWired(method: string): never {
  throw new UnimplementedError(`${method} is not wired into berthd yet`);
}

export class UnimplementedBackend implements CriBackend {
  async status(): Promise<RuntimeStatus> {
    return notWired('status');
  }
  async cgroupDriver(): Promise<CgroupDriver> {
    return notWired('cgroupDriver');
  }
  async updateRuntimeConfig(): Promise<void> {
    return notWired('updateRuntimeConfig');
  }
  async runPodSandbox(): Promise<string> {
    return notWired('runPodSandbox');
  }
  async stopPodSandbox(): Promise<void> {
    return notWired('stopPodSandbox');
  }
  async removePodSandbox(): Promise<void> {
    return notWired('removePodSandbox');
  }
  async podSandboxStatus(): Promise<PodSandboxStatusResult> {
    return notWired('podSandboxStatus');
  }
  async listPodSandboxes(): Promise<PodSandboxSummary[]> {
    return notWired('listPodSandboxes');
  }
  async createContainer(): Promise<string> {
    return notWired('createContainer');
  }
  async startContainer(): Promise<void> {
    return notWired('startContainer');
  }
  async stopContainer(): Promise<void> {
    return notWired('stopContainer');
  }
  async removeContainer(): Promise<void> {
    return notWired('removeContainer');
  }
  async listContainers(): Promise<ContainerSummary[]> {
    return notWired('listContainers');
  }
  async containerStatus(): Promise<ContainerStatusResult> {
    return notWired('containerStatus');
  }
  async updateContainerResources(): Promise<void> {
    return notWired('updateContainerResources');
  }
  async reopenContainerLog(): Promise<void> {
    return notWired('reopenContainerLog');
  }
  async execSync(): Promise<ExecSyncResult> {
    return notWired('execSync');
  }
  async exec(): Promise<string> {
    return notWired('exec');
  }
  async attach(): Promise<string> {
    return notWired('attach');
  }
  async portForward(): Promise<string> {
    return notWired('portForward');
  }
  async containerStats(): Promise<ContainerStats> {
    return notWired('containerStats');
  }
  async listContainerStats(): Promise<ContainerStats[]> {
    return notWired('listContainerStats');
  }
  async podSandboxStats(): Promise<PodSandboxStats> {
    return notWired('podSandboxStats');
  }
  async listPodSandboxStats(): Promise<PodSandboxStats[]> {
    return notWired('listPodSandboxStats');
  }
  containerEvents(): AsyncIterable<ContainerEvent> {
    return notWired('containerEvents');
  }
  async listImages(): Promise<ImageRecord[]> {
    return notWired('listImages');
  }
  async imageStatus(): Promise<ImageStatusResult> {
    return notWired('imageStatus');
  }
  async pullImage(): Promise<string> {
    return notWired('pullImage');
  }
  async removeImage(): Promise<void> {
    return notWired('removeImage');
  }
  async imageFsInfo(): Promise<ImageFsInfoResult> {
    return notWired('imageFsInfo');
  }
}
