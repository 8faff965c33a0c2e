/**
 * Activities of the sandbox transitions: one per SandboxManager step, each idempotent (the
 * manager's steps check what exists before acting). Events are appended only when the projection
 * does not show them yet, under a per-sandbox lock: a step retried after a crash, or a later run
 * of the same transition (a second stop, a create retried after it finished), records nothing twice.
 */
import { crashPoint } from '../common/crash-hooks.js';
import { AlreadyExistsError } from '../common/errors.js';
import { KeyedMutex } from '../common/keyed-mutex.js';
import { canonicalJson } from '../events/canonical.js';
import type { SandboxRecord as SandboxProjection } from '../events/projections/state.js';
import type { Topic } from '../events/topics.js';
import { normalizeSandboxConfig } from '../sandbox/config.js';
import type { SandboxState } from '../sandbox/store.js';
import type { CreateSandboxRequest, SandboxRef } from '../workflows/sandboxes.js';
import { recordEvent, runAsStep, type ActivityContext } from './context.js';

type Ctx = Pick<ActivityContext, 'events' | 'sandboxes' | 'handlers' | 'layout'>;

export function createSandboxActivities(ctx: Ctx) {
  const manager = ctx.sandboxes;
  /** Serializes read-projection-then-append per sandbox, so two runs cannot both append. */
  const locks = new KeyedMutex();
  const projected = (ref: SandboxRef): SandboxProjection | undefined =>
    ctx.events.projections.get('sandboxes', ref.namespace, ref.id);
  /** Appends `topic` unless `done(projection)` says the log already has its effect. */
  const recordUnless = async (
    ref: SandboxRef,
    topic: Topic,
    data: Record<string, unknown>,
    done: (p: SandboxProjection | undefined) => boolean,
  ): Promise<void> => {
    if (done(projected(ref))) return;
    await recordEvent(ctx, {
      namespace: ref.namespace,
      topic,
      data: { v: 1, ...data },
      step: topic.slice(1).replace('/', '-'),
    });
  };

  const activities = {
    /** Validates and records the sandbox; returns its state (`ready` when a finished create is repeated). */
    async sandboxRegister(req: CreateSandboxRequest): Promise<SandboxState> {
      const config = normalizeSandboxConfig(req.config);
      // Unknown runtime handlers are refused before anything is created.
      if (req.runtimeHandler) ctx.handlers.get(req.runtimeHandler);
      const existing = await manager.get(req.id);
      if (existing) {
        const md = existing.config.metadata;
        if (canonicalJson(existing.config) !== canonicalJson(config)) {
          throw new AlreadyExistsError(
            `sandbox ${md.namespace}/${md.name} (uid ${md.uid}, attempt ${md.attempt}) already exists as ${req.id} with a different configuration`,
          );
        }
        if (existing.state === 'notready') {
          throw new AlreadyExistsError(
            `sandbox ${md.namespace}/${md.name} (uid ${md.uid}, attempt ${md.attempt}) already exists as ${req.id} and is stopped; remove it first or use the next attempt`,
          );
        }
      }
      const record = await manager.register(req.id, config);
      const md = record.config.metadata;
      await locks.run(req.id, () =>
        recordUnless(
          req,
          '/sandboxes/create',
          {
            id: req.id,
            name: md.name,
            labels: record.config.labels ?? {},
            metadata: md,
            hostname: record.config.hostname,
            ...(req.runtimeHandler ? { runtimeHandler: req.runtimeHandler } : {}),
          },
          (p) => p !== undefined,
        ),
      );
      // The node can be ready while the log is not: berthd killed between the CNI ADD and its
      // events. The workflow then runs the (idempotent) steps again so their events get recorded.
      if (record.state === 'ready' && projected(req)?.state !== 'ready') return 'created';
      return record.state;
    },

    /**
     * The rest of a create in one step (each part idempotent, so a retry redoes what is missing):
     * pinned namespaces, pod cgroup, files, CNI ADD. One local activity instead of four spares the
     * workflow three hand-offs through the worker; each part keeps its step's name (runAsStep).
     */
    async sandboxSetUp(ref: SandboxRef): Promise<void> {
      const parts = [
        ['sandboxPinNamespaces', activities.sandboxPinNamespaces],
        ['sandboxCreateCgroup', activities.sandboxCreateCgroup],
        ['sandboxWriteFiles', activities.sandboxWriteFiles],
        ['sandboxAttachNetwork', activities.sandboxAttachNetwork],
      ] as const;
      for (const [name, part] of parts) await runAsStep(ctx.layout.root, name, () => part(ref));
    },

    async sandboxPinNamespaces(ref: SandboxRef): Promise<void> {
      await manager.pinNamespaces(ref.id);
    },

    async sandboxCreateCgroup(ref: SandboxRef): Promise<void> {
      await manager.createCgroup(ref.id);
    },

    async sandboxWriteFiles(ref: SandboxRef): Promise<void> {
      await manager.writeFiles(ref.id);
    },

    /** CNI ADD (none for host networking); the sandbox is ready. */
    async sandboxAttachNetwork(ref: SandboxRef): Promise<void> {
      const record = await manager.attachNetwork(ref.id);
      // Test-only: the node is attached and ready, the log does not know yet.
      crashPoint(ctx.layout.root, 'sandboxAttachNetwork:attached');
      await locks.run(ref.id, async () => {
        if (record.network) {
          await recordUnless(
            ref,
            '/network/attach',
            {
              sandboxId: ref.id,
              netns: record.namespaces?.net,
              ips: record.network.ips.map((ip) => ip.ip),
              network: record.network.name,
              ifName: record.network.ifName,
            },
            (p) => p?.network !== undefined,
          );
        }
        await recordUnless(ref, '/sandboxes/start', { id: ref.id }, (p) => p?.state === 'ready');
      });
    },

    /** CNI DEL and state notready. */
    async sandboxStop(ref: SandboxRef): Promise<void> {
      await manager.stop(ref.id);
      await locks.run(ref.id, async () => {
        await recordUnless(ref, '/network/detach', { sandboxId: ref.id }, (p) => p?.network === undefined);
        await recordUnless(ref, '/sandboxes/stop', { id: ref.id }, (p) => !p || p.state === 'notready');
      });
    },

    /** Everything goes (DEL first, while the namespace exists); also the undo of a failed create. */
    async sandboxRemove(ref: SandboxRef): Promise<void> {
      await manager.remove(ref.id);
      await locks.run(ref.id, async () => {
        await recordUnless(ref, '/network/detach', { sandboxId: ref.id }, (p) => p?.network === undefined);
        await recordUnless(ref, '/sandboxes/delete', { id: ref.id }, (p) => p === undefined);
      });
    },
  };
  return activities;
}
