/**
 * Activities of the container transitions (src/workflows/containers.ts). Each is idempotent: it
 * looks at what exists (snapshot, mount, task, exit file) before acting, so a step retried after a
 * crash finishes the work instead of doing it twice. Events go through recordEvent (keyed by the
 * workflow step) except exits, which share a key with the exit monitor (task-exits.ts).
 */
import { mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { FailedPreconditionError, NotFoundError } from '../common/errors.js';
import { KeyedMutex } from '../common/keyed-mutex.js';
import { containerResourcesOf } from '../events/index.js';
import type { IdMappings } from '../common/id-mappings.js';
import type { OciUser } from '../runtime/oci-types.js';
import type { SandboxNamespaces } from '../runtime/spec-request.js';
import { unpackCheckpoint } from '../runtime/checkpoint-archive.js';
import { buildSpec } from '../runtime/spec.js';
import type { TaskState } from '../runtime/task.js';
import { isInterruptedCreate } from '../runtime/task-types.js';
import {
  clearIdmapScratch,
  ensureTraversable,
  isMountPoint,
  mountAll,
  mountAllIdmapped,
} from '../snapshots/index.js';
import type {
  ContainerExit,
  CreateContainerArgs,
  CreatedContainer,
  ImageVolume,
  SignalRequest,
} from '../workflows/container-types.js';
import { currentCause, recordEvent, runAsStep, type ActivityContext } from './context.js';
import { imageVolumeBinds, mountImageVolumes, removeImageVolumes, unmountAll } from './image-volumes.js';
import { recordSignalRequest } from './signal-requests.js';
import { appendTaskExit } from './task-exits.js';

export interface ContainerRef {
  namespace: string;
  id: string;
}

/** Where a container's rootfs mount and (default) log live: per boot, like the tasks themselves. */
export function containerDir(ctx: Pick<ActivityContext, 'layout'>, id: string): string {
  return join(ctx.layout.state, 'containers', id);
}

export const snapshotKeyOf = (id: string) => `container-${id}`;

const rootfsDir = (ctx: Pick<ActivityContext, 'layout'>, id: string) => join(containerDir(ctx, id), 'rootfs');
/** The CRIU images a restored container's task starts from. */
const checkpointImagesDir = (ctx: Pick<ActivityContext, 'layout'>, id: string) =>
  join(containerDir(ctx, id), 'checkpoint');
const imageVolumesDir = (ctx: Pick<ActivityContext, 'layout'>, id: string) =>
  join(containerDir(ctx, id), 'image-volumes');
/** Transient idmapped binds of a user-namespaced container's layers while its overlay is mounted. */
const idmapScratchDir = (ctx: Pick<ActivityContext, 'layout'>, id: string) =>
  join(containerDir(ctx, id), 'idmapped-layers');

/**
 * What an exited container no longer needs goes at once, as containerd deletes a task when it
 * exits: its task's runtime state and cgroup (TaskManager.release) and its rootfs mount. The
 * snapshot, the bundle, the log and the exit stay until remove. Called by the exit monitor; a
 * no-op (false) while the task runs. Remove then has less to do, and does the rest if this failed.
 */
export async function releaseExitedContainer(
  ctx: Pick<ActivityContext, 'tasks' | 'layout'>,
  id: string,
): Promise<boolean> {
  if (!(await ctx.tasks.release(id))) return false;
  await unmountAll(rootfsDir(ctx, id));
  return true;
}

export function createContainerActivities(ctx: ActivityContext) {
  const teardowns = new KeyedMutex();

  const taskState = async (id: string): Promise<TaskState | undefined> =>
    ctx.tasks.state(id).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });

  const taskPid = (ref: ContainerRef) => ctx.events.projections.get('tasks', ref.namespace, ref.id)?.pid ?? 0;

  /** The exit as ContainerExit, recorded (once) on the way. */
  const recordExit = async (ref: ContainerRef): Promise<ContainerExit | undefined> => {
    const exit = await ctx.tasks.readExit(ref.id);
    if (!exit) return undefined;
    await appendTaskExit(ctx.events, ref.namespace, taskPid(ref), exit, currentCause());
    return { exitCode: exit.exitCode, exitedAt: exit.exitedAt.toISOString(), oomKilled: exit.oomKilled };
  };

  const activities = {
    /**
     * Prepares the writable snapshot on the image's top layer and mounts it as the rootfs; mounts
     * a read-only view of each image volume's image beside it.
     */
    async containerPrepareRootfs(req: {
      namespace: string;
      id: string;
      chainId: string;
      imageVolumes?: ImageVolume[];
      /** A user-namespaced pod's: the layers are idmapped through `namespaces.user`. */
      idMappings?: IdMappings;
      namespaces?: SandboxNamespaces;
      restore?: { archive: string };
    }): Promise<string> {
      const key = snapshotKeyOf(req.id);
      const target = rootfsDir(ctx, req.id);
      const exists = await ctx.snapshotter.stat(key).then(
        () => true,
        () => false,
      );
      const mounts = exists
        ? await ctx.snapshotter.mounts(key)
        : await ctx.snapshotter.prepare(key, req.chainId);
      await mkdir(target, { recursive: true });
      if (!(await isMountPoint(target))) {
        // A restore's files go into the writable layer before the overlay is up (unpacked again on a re-run).
        if (req.restore)
          await unpackCheckpoint(req.restore.archive, {
            imagesDir: checkpointImagesDir(ctx, req.id),
            upperDir: await ctx.snapshotter.dataDir(key),
          });
        const usernsFile = req.namespaces?.user;
        if (req.idMappings && usernsFile) {
          await ensureTraversable(target, ctx.layout.state);
          const scratchDir = idmapScratchDir(ctx, req.id);
          await mountAllIdmapped(mounts, target, { usernsFile, mappings: req.idMappings, scratchDir });
        } else await mountAll(mounts, target);
      }
      await recordEvent(ctx, {
        namespace: req.namespace,
        topic: '/snapshot/prepare',
        data: { v: 1, key, parent: req.chainId, snapshotter: ctx.config.snapshotter },
      });
      await mountImageVolumes(ctx, req, imageVolumesDir(ctx, req.id));
      return target;
    },

    /** Unmounts and removes the rootfs snapshot and the container's directory (its default log too). */
    async containerRemoveRootfs(ref: ContainerRef): Promise<void> {
      const key = snapshotKeyOf(ref.id);
      const target = rootfsDir(ctx, ref.id);
      await unmountAll(target);
      const exists = await ctx.snapshotter.stat(key).then(
        () => true,
        () => false,
      );
      if (exists) await ctx.snapshotter.remove(key);
      await removeImageVolumes(ctx, ref, imageVolumesDir(ctx, ref.id));
      // Layer binds a crash left would take the image's layers with a recursive delete.
      await clearIdmapScratch(idmapScratchDir(ctx, ref.id));
      await rm(containerDir(ctx, ref.id), { recursive: true, force: true });
      if (ctx.events.projections.get('snapshots', ref.namespace, key))
        await recordEvent(ctx, {
          namespace: ref.namespace,
          topic: '/snapshot/remove',
          data: { v: 1, key, snapshotter: ctx.config.snapshotter },
        });
    },

    /** Generates the spec, has conmon + the runtime create the task, and records the container. */
    async containerCreateTask(
      req: CreateContainerArgs & { id: string; rootfsPath: string },
    ): Promise<CreatedContainer> {
      const logPath = req.logPath ?? join(containerDir(ctx, req.id), 'container.log');
      let st = await taskState(req.id);
      if (isInterruptedCreate(st)) {
        // A crash in the middle of create left a task the runtime does not hold: start over. Any
        // other task is this container's (a step re-run after its hand-back must not make again
        // a container that already ran, or is paused).
        await ctx.tasks.delete(req.id, true);
        st = undefined;
      }
      let user: OciUser | undefined;
      const stopSignal = req.process.stopSignal ?? req.imageConfig.stopSignal;
      if (!st) {
        const volumeBinds = await imageVolumeBinds(imageVolumesDir(ctx, req.id), req.imageVolumes ?? []);
        const { spec, warnings } = await buildSpec({
          id: req.id,
          rootfsPath: req.rootfsPath,
          image: req.imageConfig,
          ...req.process,
          ...(volumeBinds.length > 0 ? { binds: [...(req.process.binds ?? []), ...volumeBinds] } : {}),
          ...(req.sandboxFiles ? { sandboxFiles: req.sandboxFiles } : {}),
          namespaces: req.namespaces,
          ...(req.idMappings ? { idMappings: req.idMappings } : {}),
          cgroupParent: req.cgroupParent,
          annotations: req.annotations,
        });
        for (const w of warnings) ctx.logger.warn({ id: req.id }, w);
        user = spec.process.user;
        await mkdir(dirname(logPath), { recursive: true });
        st = await ctx.tasks.create({
          id: req.id,
          spec,
          logPath,
          ...(req.runtimeHandler ? { runtimeHandler: req.runtimeHandler } : {}),
          ...(stopSignal ? { stopSignal } : {}),
          ...(req.process.stdin ? { stdin: true, stdinOnce: req.process.stdinOnce === true } : {}),
          ...(req.restore ? { restoreFrom: checkpointImagesDir(ctx, req.id) } : {}),
        });
      }
      // The user the image and request resolved to (kubelet shows it in ContainerStatus.user).
      user ??= (await ctx.tasks.spec(req.id)).process.user;
      await recordEvent(ctx, {
        namespace: req.namespace,
        topic: '/containers/create',
        step: 'container',
        data: {
          v: 1,
          id: req.id,
          name: req.name,
          ...(req.attempt ? { attempt: req.attempt } : {}),
          image: req.image,
          imageDigest: req.imageDigest,
          ...(req.sandboxId ? { sandboxId: req.sandboxId } : {}),
          runtime: st.handler,
          snapshotKey: snapshotKeyOf(req.id),
          logPath,
          user: { uid: user.uid, gid: user.gid, additionalGids: user.additionalGids ?? [] },
          ...(stopSignal ? { stopSignal } : {}),
          ...(req.imageVolumes?.length ? { imageVolumes: req.imageVolumes.map((v) => v.imageDigest) } : {}),
          ...(req.process.resources ? { resources: containerResourcesOf(req.process.resources) } : {}),
          labels: req.labels,
          annotations: req.annotations,
        },
      });
      await recordEvent(ctx, {
        namespace: req.namespace,
        topic: '/tasks/create',
        step: 'task',
        data: { v: 1, containerId: req.id, ...(st.pid > 0 ? { pid: st.pid } : {}) },
      });
      return { id: req.id, namespace: req.namespace, pid: st.pid, logPath, rootfsPath: req.rootfsPath };
    },

    /** Starts a created task; a task already started (or already exited) is left as it is. */
    async containerStartTask(ref: ContainerRef): Promise<number> {
      // A re-run after a start that happened resolves; a start that failed fails (TaskManager.start).
      await ctx.tasks.start(ref.id);
      // A restored task has its process only now: its pid is the runtime's, not the create's.
      const pid =
        taskPid(ref) ||
        (await ctx.tasks.state(ref.id).then(
          (s) => s.pid,
          () => 0,
        ));
      await recordEvent(ctx, {
        namespace: ref.namespace,
        topic: '/tasks/start',
        data: { v: 1, containerId: ref.id, ...(pid > 0 ? { pid } : {}) },
      });
      return pid;
    },

    /**
     * Sends the stop signal (the image's StopSignal, else SIGTERM; SIGKILL to every process with
     * `kill`). Returns the exit if the task has already exited: nothing to wait for.
     */
    async containerSignal(
      req: ContainerRef & { kill: boolean; request?: SignalRequest },
    ): Promise<ContainerExit | null> {
      const exited = await recordExit(req);
      if (exited) return exited;
      // The request is recorded before its effect, so the exit it causes can name it.
      if (req.request) await recordSignalRequest(ctx, req, req.request);
      // NotFoundError without a task; a frozen one is thawed first (no runtime call to find out).
      await ctx.tasks.signalStop(req.id, { kill: req.kill });
      return null;
    },

    /**
     * Returns the task's exit, recording it; retried (a retryable failure) while the task still
     * runs, so the workflow's retry policy bounds the wait.
     */
    async containerAwaitExit(ref: ContainerRef): Promise<ContainerExit> {
      const st = await taskState(ref.id);
      if (!st) throw new NotFoundError(`container ${ref.id} has no task`);
      await ctx.tasks.wait(ref.id, 5_000);
      const exit = await recordExit(ref);
      if (!exit) throw ApplicationFailure.retryable(`container ${ref.id} is still running`, 'still_running');
      return exit;
    },

    /**
     * Waits up to `timeoutMs` for the task's exit and records it; null if it still runs. Short
     * enough for a local activity: most tasks exit within milliseconds of SIGKILL (or of a
     * handled SIGTERM), and seeing the exit here spares the workflow a signal and a server round trip.
     */
    async containerWaitExit(ref: ContainerRef & { timeoutMs: number }): Promise<ContainerExit | null> {
      // NotFoundError when there is no task (wait reads its record first).
      await ctx.tasks.wait(ref.id, ref.timeoutMs);
      return (await recordExit(ref)) ?? null;
    },

    /**
     * Checks that the task may be removed: a running task needs `force` (the workflow then kills
     * it). Returns whether a kill is needed.
     */
    async containerCheckRemovable(ref: ContainerRef & { force: boolean }): Promise<boolean> {
      const st = await taskState(ref.id);
      if (!st || st.status === 'stopped') return false;
      if (!ref.force)
        throw new FailedPreconditionError(
          `container ${ref.id} is ${st.status}: stop it first or remove it with force`,
        );
      return true;
    },

    /** Deletes the task (runtime state, conmon, cgroup, bundle) and records it. */
    async containerDeleteTask(ref: ContainerRef): Promise<void> {
      await recordExit(ref);
      await ctx.tasks.delete(ref.id, true);
      const t = ctx.events.projections.get('tasks', ref.namespace, ref.id);
      if (t)
        await recordEvent(ctx, {
          namespace: ref.namespace,
          topic: '/tasks/delete',
          data: { v: 1, containerId: ref.id, ...(t.exitCode !== undefined ? { exitCode: t.exitCode } : {}) },
        });
    },

    /** Records the container's removal (after its task and rootfs are gone). */
    async containerRecordDelete(ref: ContainerRef): Promise<void> {
      if (!ctx.events.projections.get('containers', ref.namespace, ref.id)) return;
      await recordEvent(ctx, {
        namespace: ref.namespace,
        topic: '/containers/delete',
        data: { v: 1, id: ref.id },
      });
    },

    /**
     * Create in one step: the rootfs (prepareRootfs), then the task (createTask); each part is
     * idempotent, so a retry redoes what is missing. One local activity instead of two spares the
     * workflow a hand-off through the worker; each part keeps its step's name (runAsStep).
     */
    async containerCreate(req: CreateContainerArgs & { id: string }): Promise<CreatedContainer> {
      const root = ctx.layout.root;
      const rootfsPath = await runAsStep(root, 'containerPrepareRootfs', () =>
        activities.containerPrepareRootfs(req),
      );
      return runAsStep(root, 'containerCreateTask', () =>
        activities.containerCreateTask({ ...req, rootfsPath }),
      );
    },

    /**
     * Remove's teardown in one step (deleteTask, removeRootfs, recordDelete), like containerCreate.
     * A pod's removal tears several containers down in one step: `stepSuffix` (`:<id>`) keeps
     * their events apart. Two teardowns of one container (a RemoveContainer racing the pod's
     * removal) run one after the other, so the second finds the work done and records nothing.
     */
    async containerTearDown(ref: ContainerRef & { stepSuffix?: string }): Promise<void> {
      const target = { namespace: ref.namespace, id: ref.id };
      const parts = [
        ['containerDeleteTask', activities.containerDeleteTask],
        ['containerRemoveRootfs', activities.containerRemoveRootfs],
        ['containerRecordDelete', activities.containerRecordDelete],
      ] as const;
      await teardowns.run(ref.id, async () => {
        for (const [name, part] of parts)
          await runAsStep(ctx.layout.root, `${name}${ref.stepSuffix ?? ''}`, () => part(target));
      });
    },
  };
  return activities;
}
