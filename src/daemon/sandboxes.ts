/**
 * SandboxService: what the API, the CLI and the CRI gateway call for pod sandboxes. Writes start
 * (or join) the sandbox workflows; reads come from the projections, with the on-disk sandbox
 * record (SandboxManager's) for what containers need to join the pod: pinned namespace paths, the
 * pod cgroup parent and the hostname/resolv.conf/hosts files.
 *
 * Identity: a create's workflow id is `sandbox:<node>:<ns>:<pod uid>:<attempt>` and the sandbox id is
 * derived from the same triple, so a kubelet retry (in flight or finished) gets the same sandbox
 * back; the same triple with a different configuration is AlreadyExistsError.
 */
import type { IdMappings } from '../common/id-mappings.js';
import { createHash } from 'node:crypto';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  errorMessage,
} from '../common/errors.js';
import { canonicalJson } from '../events/canonical.js';
import type { SandboxRecord as SandboxProjection } from '../events/projections/state.js';
import type { AttachedIp } from '../network/types.js';
import {
  normalizeSandboxConfig,
  type NormalizedSandboxConfig,
  type SandboxConfig,
} from '../sandbox/config.js';
import type { SandboxFilePaths } from '../sandbox/files.js';
import type { SandboxStatus } from '../sandbox/sandbox-manager.js';
import type { CreateSandboxRequest, RemoveSandboxRequest, SandboxRef } from '../workflows/sandboxes.js';
import type { NodeServices } from './node-services.js';
import { requireNamespaceName } from './request-fields.js';
import type { TransitionRunner } from './transitions.js';
import { podAttribute, type TransitionSubject } from './search-attributes.js';

/** The Berth namespace sandboxes go to when the caller names none (the CRI gateway passes `k8s.io`). */
export const DEFAULT_SANDBOX_NAMESPACE = 'default';

/** A sandbox as callers see it: the projection record plus what the node has on disk for it. */
export interface SandboxView extends SandboxProjection {
  /** The pinned network namespace (absent for host networking). */
  netns?: string;
  /** Addresses with prefix and gateway, as CNI reported them. */
  ips: AttachedIp[];
  config?: NormalizedSandboxConfig;
  namespaces: NamespacePaths;
  cgroupParent?: string;
  files?: SandboxFilePaths;
}

/** Bind-mounted namespace files a container joins; a kind that is absent is the host's. */
export interface NamespacePaths {
  /** The pod's user namespace (a pod with hostUsers: false). */
  user?: string;
  net?: string;
  ipc?: string;
  uts?: string;
  /** Only for a pod that shares one PID namespace. */
  pid?: string;
}

export interface SandboxStatusView extends SandboxView {
  /** A live CNI CHECK: `ok`, `none` (host network or not ready) or `failed` with the plugin's reason. */
  networkCheck: SandboxStatus['network'];
}

export interface SandboxFilter {
  namespace?: string;
  /** Exact id or id prefix. */
  id?: string;
  state?: SandboxProjection['state'];
  /** Every label given must match. */
  labels?: Record<string, string>;
}

export interface RunSandboxOptions {
  runtimeHandler?: string;
  /** Berth namespace of the sandbox's events and records; `default` unless given. */
  namespace?: string;
}

/**
 * The sandbox id of a pod attempt: deterministic, so retries of one request name one sandbox. The
 * node id is part of it because pod cgroups (`/berth/pod-<id>`) are host-wide: two daemons on one
 * host (tests, or a node renamed) must never share one.
 */
export function sandboxIdFor(nodeId: string, namespace: string, uid: string, attempt: number): string {
  return createHash('sha256')
    .update(`berth-sandbox\n${nodeId}\n${namespace}\n${uid}\n${attempt}`)
    .digest('hex');
}

export class SandboxService {
  private readonly nodeOf: () => NodeServices | undefined;

  constructor(
    private readonly transitions: TransitionRunner,
    node: NodeServices | (() => NodeServices | undefined),
  ) {
    this.nodeOf = typeof node === 'function' ? node : () => node;
  }

  private get node(): NodeServices {
    const node = this.nodeOf();
    if (!node) throw new UnavailableError('berthd has not opened its subsystems yet');
    return node;
  }

  /** Creates and starts a sandbox (or joins/returns the one this pod attempt already has). */
  async run(config: SandboxConfig, opts: RunSandboxOptions = {}): Promise<SandboxView> {
    const namespace = requireNamespaceName(opts.namespace ?? DEFAULT_SANDBOX_NAMESPACE);
    // Validated here too, so bad input starts no workflow at all.
    const normalized = normalizeSandboxConfig(config);
    const handler = this.node.handlers.get(opts.runtimeHandler);
    if (normalized.linux?.namespaceOptions?.userns && !(await handler.userNamespaces()))
      throw new FailedPreconditionError(
        `runtime handler ${handler.name} cannot run pods with their own user namespace (it has no idmapped mounts: runc >= 1.2 does)`,
      );
    const md = normalized.metadata;
    const id = sandboxIdFor(this.node.config.nodeId, namespace, md.uid, md.attempt);
    const req: CreateSandboxRequest = {
      namespace,
      id,
      config,
      ...(opts.runtimeHandler ? { runtimeHandler: opts.runtimeHandler } : {}),
    };
    await this.transitions.run<SandboxRef>({
      workflowType: 'createSandbox',
      workflowId: `sandbox:${this.node.config.nodeId}:${namespace}:${md.uid}:${md.attempt}`,
      args: [req],
      // A finished create may be followed by another for the same attempt (after a remove);
      // its register step returns a sandbox that is still there without redoing anything.
      onFinished: 'again',
      subject: { namespace, pod: podAttribute({ id, metadata: md }) },
    });
    const view = await this.view(this.mustProject(namespace, id));
    // Joining a run in flight for the same attempt but another request must not pass silently.
    if (view.config && canonicalJson(view.config) !== canonicalJson(normalized)) {
      throw new AlreadyExistsError(
        `sandbox ${md.namespace}/${md.name} (uid ${md.uid}, attempt ${md.attempt}) already exists as ${id} with a different configuration`,
      );
    }
    return view;
  }

  /** Releases the sandbox's network (CNI DEL); namespaces stay until remove. Idempotent. */
  async stop(idOrPrefix: string): Promise<SandboxView> {
    const sb = this.resolve(idOrPrefix);
    await this.runStop(sb);
    return this.view(this.project(sb.namespace, sb.id) ?? sb);
  }

  /**
   * Removes everything of the sandbox, and its containers whose tasks have exited with it (one
   * transition); refused while containers still run in its cgroup. A caller removes live
   * containers first: they need a kill and a wait, which are their own remove's.
   */
  async remove(idOrPrefix: string): Promise<void> {
    const sb = this.resolve(idOrPrefix);
    await this.runRemove(sb, this.exitedContainersOf(sb));
  }

  private exitedContainersOf(sb: SandboxRef): string[] {
    const { projections } = this.node.events;
    return projections
      .list('containers', sb.namespace)
      .filter(
        (c) => c.sandboxId === sb.id && projections.get('tasks', sb.namespace, c.id)?.status === 'stopped',
      )
      .map((c) => c.id)
      .sort();
  }

  async get(idOrPrefix: string): Promise<SandboxView> {
    return this.view(this.resolve(idOrPrefix));
  }

  async list(filter: SandboxFilter = {}): Promise<SandboxView[]> {
    const records = this.node.events.projections
      .list('sandboxes', filter.namespace)
      .filter(
        (r) =>
          (!filter.id || r.id.startsWith(filter.id)) &&
          (!filter.state || r.state === filter.state) &&
          Object.entries(filter.labels ?? {}).every(([k, v]) => r.labels[k] === v),
      )
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
    return Promise.all(records.map((r) => this.view(r)));
  }

  /** The sandbox with a live CNI CHECK of its attachment. */
  async status(idOrPrefix: string): Promise<SandboxStatusView> {
    const sb = this.resolve(idOrPrefix);
    let networkCheck: SandboxStatus['network'];
    try {
      networkCheck = (await this.node.sandboxes.status(sb.id)).network;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      networkCheck = { check: 'failed', error: `sandbox ${sb.id} has no record on this node` };
    }
    return { ...(await this.view(sb)), networkCheck };
  }

  /** Namespace files a container of the sandbox joins (net, ipc, uts); absent kinds are the host's. */
  async namespacePaths(id: string): Promise<NamespacePaths> {
    const record = await this.record(id);
    return { ...record.namespaces };
  }

  /** The pod's user namespace file and its mappings; undefined for a pod in the host's ids. */
  async userNamespace(id: string): Promise<{ file: string; mappings: IdMappings } | undefined> {
    const record = await this.record(id);
    const mappings = record.config.linux?.namespaceOptions?.userns;
    if (!mappings) return undefined;
    const file = record.namespaces?.user;
    if (!file)
      throw new FailedPreconditionError(`sandbox ${id} asked for a user namespace but has none pinned`);
    return { file, mappings };
  }

  /** The cgroup parent (runc cgroupsPath prefix) containers of the sandbox go under. */
  async cgroupParent(id: string): Promise<string> {
    const record = await this.record(id);
    if (!record.cgroupPath) throw new FailedPreconditionError(`sandbox ${id} has no pod cgroup yet`);
    return record.cgroupPath;
  }

  /** hostname, resolv.conf and hosts files containers bind-mount. */
  async files(id: string): Promise<SandboxFilePaths> {
    const record = await this.record(id);
    if (!record.files) throw new FailedPreconditionError(`sandbox ${id} has no hostname/DNS files yet`);
    return record.files;
  }

  /**
   * At startup (after the worker runs): finishes teardowns a crash interrupted and removes
   * leftovers with no record, so no IP, veth, rule, mount or cgroup outlives its sandbox.
   * Creates in flight resume through their own workflows. Returns what it acted on.
   */
  async reconcile(): Promise<{ orphans: string[]; stopped: string[]; removed: string[] }> {
    const node = this.node;
    const orphans = await this.removeOrphans();
    const stopped: string[] = [];
    const removed: string[] = [];
    const onDisk = new Map((await node.sandboxes.list()).map((r) => [r.id, r]));
    for (const sb of node.events.projections.list('sandboxes')) {
      const record = onDisk.get(sb.id);
      try {
        if (!record) {
          // The log still has it but the node does not: a remove stopped between its steps.
          await this.runRemove(sb, this.exitedContainersOf(sb));
          removed.push(sb.id);
        } else if (record.state === 'notready' || sb.state === 'notready') {
          // A stop must leave no attachment; repeating it is harmless and finishes a torn one.
          if (record.network || (await node.network.attachment(sb.id)) || sb.network) {
            await this.runStop(sb);
            stopped.push(sb.id);
          }
        }
      } catch (err) {
        node.logger.error({ sandbox: sb.id, err: errorMessage(err) }, 'finishing a sandbox teardown failed');
      }
    }
    return { orphans, stopped, removed };
  }

  /**
   * Leftovers with no record: a CNI attachment or pinned namespaces, both under this daemon's
   * state dir. (SandboxManager.removeOrphans also looks at pod cgroups, but those are host-wide
   * and may belong to another daemon; Berth's own order — record first, record last — never
   * leaves a pod cgroup without a record.)
   */
  private async removeOrphans(): Promise<string[]> {
    const { sandboxes, network } = this.node;
    const known = new Set((await sandboxes.list()).map((r) => r.id));
    const seen = [
      ...(await network.cache.list()).map((a) => a.containerId),
      ...(await sandboxes.pinner.pinnedIds()),
    ];
    const orphans = [...new Set(seen)].filter((id) => !known.has(id) && /^[0-9a-f]{64}$/.test(id)).sort();
    for (const id of orphans) {
      this.node.logger.info({ sandbox: id }, 'removing sandbox leftovers without a record');
      await sandboxes.remove(id);
    }
    return orphans;
  }

  private runStop(ref: SandboxRef): Promise<SandboxRef> {
    return this.transitions.run<SandboxRef>({
      workflowType: 'stopSandbox',
      workflowId: `sandbox:${ref.id}:stop`,
      args: [{ namespace: ref.namespace, id: ref.id }],
      onFinished: 'again',
      subject: this.subjectOf(ref),
    });
  }

  private runRemove(ref: SandboxRef, exitedContainers: string[]): Promise<SandboxRef> {
    const req: RemoveSandboxRequest = {
      namespace: ref.namespace,
      id: ref.id,
      ...(exitedContainers.length ? { exitedContainers } : {}),
    };
    return this.transitions.run<SandboxRef>({
      workflowType: 'removeSandbox',
      workflowId: `sandbox:${ref.id}:remove`,
      args: [req],
      // Ids repeat when a pod attempt is created again after its removal.
      onFinished: 'again',
      subject: this.subjectOf(ref),
    });
  }

  /** The search attributes of a sandbox's transitions (search-attributes.ts). */
  private subjectOf(ref: SandboxRef): TransitionSubject {
    const sandbox = this.node.events.projections.get('sandboxes', ref.namespace, ref.id);
    return { namespace: ref.namespace, pod: podAttribute(sandbox ?? ref) };
  }

  /** Exact id, unique id prefix or unique pod name, in any namespace. */
  private resolve(idOrPrefix: string): SandboxProjection {
    if (!idOrPrefix)
      throw new InvalidArgumentError('a sandbox id (or a unique prefix or pod name) is required');
    const all = this.node.events.projections.list('sandboxes');
    const exact = all.filter((r) => r.id === idOrPrefix);
    const found = exact.length
      ? exact
      : all.filter(
          (r) => r.id.startsWith(idOrPrefix) || r.metadata?.name === idOrPrefix || r.name === idOrPrefix,
        );
    if (found.length === 1) return found[0]!;
    if (found.length === 0) throw new NotFoundError(`sandbox ${idOrPrefix} not found`);
    throw new InvalidArgumentError(
      `sandbox ${idOrPrefix} is ambiguous: it matches ${found.map((r) => r.id.slice(0, 12)).join(', ')}`,
    );
  }

  private project(namespace: string, id: string): SandboxProjection | undefined {
    return this.node.events.projections.get('sandboxes', namespace, id);
  }

  private mustProject(namespace: string, id: string): SandboxProjection {
    const sb = this.project(namespace, id);
    if (!sb) throw new NotFoundError(`sandbox ${id} not found in namespace ${namespace}`);
    return sb;
  }

  private async record(id: string) {
    const record = await this.node.sandboxes.get(this.resolve(id).id);
    if (!record) throw new NotFoundError(`sandbox ${id} has no record on this node`);
    return record;
  }

  private async view(sb: SandboxProjection): Promise<SandboxView> {
    const record = await this.node.sandboxes.get(sb.id);
    return {
      ...sb,
      ...(record?.namespaces?.net ? { netns: record.namespaces.net } : {}),
      ips: record?.network?.ips ?? [],
      ...(record ? { config: record.config } : {}),
      namespaces: { ...record?.namespaces },
      ...(record?.cgroupPath ? { cgroupParent: record.cgroupPath } : {}),
      ...(record?.files ? { files: record.files } : {}),
    };
  }
}
