/**
 * Pod sandboxes without an infra container: composes pinned namespaces, the pod cgroup, the
 * per-sandbox files and the CNI attachment. Each step is a public, idempotent method so a durable
 * workflow can run (and retry) them one by one; `create`, `stop` and `remove` run them in order,
 * and `create` undoes everything it did when a step fails.
 */
import { randomBytes } from 'node:crypto';
import { AlreadyExistsError, NotFoundError, errorMessage } from '../common/errors.js';
import { silentLogger, type Logger } from '../common/logger.js';
import type { CniNetwork } from '../network/cni.js';
import type { PodCgroups } from './cgroups.js';
import { normalizeSandboxConfig, type SandboxConfig } from './config.js';
import { SandboxFiles } from './files.js';
import { NamespacePinner, assertSandboxId } from './namespaces.js';
import { SandboxStore, type SandboxRecord } from './store.js';

export interface SandboxManagerOptions {
  /** Berth's state dir: pins under `ns/`, records and files under `sandboxes/`. */
  stateDir: string;
  network: CniNetwork;
  cgroups: PodCgroups;
  files?: SandboxFiles;
  logger?: Logger;
}

/** What `status` reports: the record plus a live CHECK of the network attachment. */
export interface SandboxStatus {
  record: SandboxRecord;
  /** `ok` when CHECK passed, `none` for host networking or a stopped sandbox, else the error. */
  network: { check: 'ok' } | { check: 'none' } | { check: 'failed'; error: string };
}

/** Generates a sandbox id like containerd's: 64 hex characters. */
export function newSandboxId(): string {
  return randomBytes(32).toString('hex');
}

function isSandboxId(id: string): boolean {
  try {
    assertSandboxId(id);
    return true;
  } catch {
    return false;
  }
}

export class SandboxManager {
  readonly store: SandboxStore;
  readonly pinner: NamespacePinner;
  private readonly files: SandboxFiles;
  private readonly log: Logger;
  /** Serializes the uniqueness check and claim of (namespace, name, uid, attempt). */
  private registering: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: SandboxManagerOptions) {
    this.store = new SandboxStore(opts.stateDir);
    this.pinner = new NamespacePinner(opts.stateDir);
    this.files = opts.files ?? new SandboxFiles();
    this.log = (opts.logger ?? silentLogger).child({ subsystem: 'sandbox' });
  }

  /** Creates a ready sandbox: every step in order; on failure, everything done is undone. */
  async create(config: SandboxConfig, id: string = newSandboxId()): Promise<SandboxRecord> {
    await this.register(id, config);
    try {
      await this.pinNamespaces(id);
      await this.createCgroup(id);
      await this.writeFiles(id);
      return await this.attachNetwork(id);
    } catch (err) {
      this.log.warn({ id, err: errorMessage(err) }, 'sandbox create failed; tearing down');
      try {
        await this.remove(id);
      } catch (cleanupErr) {
        this.log.error({ id, err: errorMessage(cleanupErr) }, 'teardown after a failed create failed');
      }
      throw err;
    }
  }

  /**
   * Step 1: validates the request and records the sandbox. Repeating it with the same id and pod
   * succeeds; the id of another pod, or another sandbox with the same namespace, name, uid and
   * attempt, is an AlreadyExistsError.
   */
  register(id: string, config: SandboxConfig): Promise<SandboxRecord> {
    assertSandboxId(id);
    const normalized = normalizeSandboxConfig(config);
    const run = this.registering.then(async () => {
      const existing = await this.store.get(id);
      if (existing) {
        const a = existing.config.metadata;
        const b = normalized.metadata;
        if (a.namespace !== b.namespace || a.name !== b.name || a.uid !== b.uid || a.attempt !== b.attempt) {
          throw new AlreadyExistsError(
            `sandbox id ${id} is already used by ${a.namespace}/${a.name} (uid ${a.uid})`,
          );
        }
        return existing;
      }
      const md = normalized.metadata;
      const clash = (await this.store.list()).find(
        (r) =>
          r.config.metadata.namespace === md.namespace &&
          r.config.metadata.name === md.name &&
          r.config.metadata.uid === md.uid &&
          r.config.metadata.attempt === md.attempt,
      );
      if (clash) {
        throw new AlreadyExistsError(
          `sandbox ${md.namespace}/${md.name} (uid ${md.uid}, attempt ${md.attempt}) already exists as ${clash.id}`,
        );
      }
      const record: SandboxRecord = {
        id,
        config: normalized,
        createdAt: new Date().toISOString(),
        state: 'created',
      };
      await this.store.put(record);
      return record;
    });
    this.registering = run.catch(() => undefined);
    return run;
  }

  /** Step 2: pins network/IPC/UTS (those not shared with the host), the pod PID namespace if shared, and sets the hostname. */
  async pinNamespaces(id: string): Promise<SandboxRecord> {
    const record = await this.mustGet(id);
    const c = record.config;
    record.namespaces = await this.pinner.pin(id, {
      network: c.hostNetwork ? 'host' : 'pod',
      ipc: c.hostIpc ? 'host' : 'pod',
      pid: c.podPid ? 'pod' : c.hostPid ? 'host' : 'container',
      hostname: c.hostname,
      ...(c.linux?.namespaceOptions?.userns ? { userns: c.linux.namespaceOptions.userns } : {}),
    });
    await this.store.put(record);
    return record;
  }

  /** Step 3: the pod cgroup with the pod-level resources, or the caller's cgroup parent. */
  async createCgroup(id: string): Promise<SandboxRecord> {
    const record = await this.mustGet(id);
    const { cgroupParent, resources = {} } = record.config.linux ?? {};
    if (cgroupParent) {
      // Who made the parent is recorded before it is made: a re-run after a crash must still own it.
      if (record.ownsCgroupParent === undefined) {
        record.ownsCgroupParent = !(await this.opts.cgroups.parentExists(cgroupParent));
        record.cgroupPath = cgroupParent;
        await this.store.put(record);
      }
      if (record.ownsCgroupParent) await this.opts.cgroups.makeParent(cgroupParent, resources);
    } else {
      record.cgroupPath = await this.opts.cgroups.create(id, resources);
    }
    await this.store.put(record);
    return record;
  }

  /** Step 4: hostname, resolv.conf and hosts (rewritten with the IPs once attached). */
  async writeFiles(id: string): Promise<SandboxRecord> {
    const record = await this.mustGet(id);
    const c = record.config;
    record.files = await this.files.write(this.store.sandboxDir(id), {
      hostname: c.hostname,
      hostNetwork: c.hostNetwork,
      ips: (record.network?.ips ?? []).map((ip) => ip.ip),
      ...(c.dnsConfig ? { dnsConfig: c.dnsConfig } : {}),
    });
    await this.store.put(record);
    return record;
  }

  /** Step 5: CNI ADD (nothing for host networking); the sandbox becomes ready. */
  async attachNetwork(id: string): Promise<SandboxRecord> {
    let record = await this.mustGet(id);
    const c = record.config;
    if (!c.hostNetwork) {
      const netns = record.namespaces?.net;
      if (netns === undefined)
        throw new NotFoundError(`sandbox ${id} has no pinned network namespace; pin it first`);
      const res = await this.opts.network.add({
        containerId: id,
        netnsPath: netns,
        pod: { namespace: c.metadata.namespace, name: c.metadata.name, uid: c.metadata.uid },
        portMappings: c.portMappings,
      });
      record.network = { name: res.networkName, ifName: res.ifName, ips: res.ips };
      await this.store.put(record);
      record = await this.writeFiles(id);
    }
    record.state = 'ready';
    await this.store.put(record);
    return record;
  }

  /** CNI DEL while the namespace still exists; idempotent, also for unknown sandboxes. */
  async detachNetwork(id: string): Promise<void> {
    assertSandboxId(id);
    // DEL runs from the attachment cache, so it works even without (or before) a record.
    await this.opts.network.del(id);
    const record = await this.store.get(id);
    if (record?.network) {
      delete record.network;
      await this.store.put(record);
    }
  }

  /** Stops the sandbox: its network is torn down, its namespaces stay until remove. Idempotent. */
  async stop(id: string): Promise<void> {
    assertSandboxId(id);
    await this.opts.network.del(id);
    // The attachment's end and the new state in one durable write (detachNetwork's, merged).
    const record = await this.store.get(id);
    if (record && (record.network || record.state !== 'notready')) {
      delete record.network;
      record.state = 'notready';
      await this.store.put(record);
    }
  }

  /**
   * Removes everything of the sandbox: network (again, in case stop was skipped or interrupted),
   * then namespaces (only after DEL succeeded, since plugins need the namespace to clean up),
   * cgroup, files and record. Idempotent; removing an unknown sandbox succeeds. Refused, with
   * nothing changed, while a process or container cgroup remains in the pod cgroup.
   */
  async remove(id: string): Promise<void> {
    // Refuse before tearing anything down while containers still run in the pod.
    await this.opts.cgroups.assertRemovable(id);
    await this.detachNetwork(id);
    await this.pinner.release(id);
    await this.opts.cgroups.remove(id);
    const record = await this.store.get(id);
    if (record?.ownsCgroupParent && record.cgroupPath)
      await this.opts.cgroups.removeParent(record.cgroupPath);
    await this.files.remove(this.store.sandboxDir(id));
    await this.store.delete(id);
  }

  /**
   * After a restart: tears down what a crash left behind with no sandbox record (a CNI
   * attachment, pinned namespaces, a pod cgroup), so no IP, veth, rule or mount leaks.
   * Returns the ids it removed. Sandboxes that have a record are left to their workflows.
   */
  async removeOrphans(): Promise<string[]> {
    const known = new Set((await this.store.list()).map((r) => r.id));
    const seen = [
      ...(await this.opts.network.cache.list()).map((a) => a.containerId),
      ...(await this.pinner.pinnedIds()),
      ...(await this.opts.cgroups.ids()),
    ];
    const orphans = [...new Set(seen)].filter((id) => !known.has(id) && isSandboxId(id)).sort();
    for (const id of orphans) {
      this.log.info({ id }, 'removing sandbox leftovers without a record');
      await this.remove(id);
    }
    return orphans;
  }

  /** The sandbox and a live CHECK of its network. */
  async status(id: string): Promise<SandboxStatus> {
    const record = await this.mustGet(id);
    if (record.config.hostNetwork || record.state !== 'ready' || !record.network) {
      return { record, network: { check: 'none' } };
    }
    try {
      await this.opts.network.check(id, record.network.ifName);
      return { record, network: { check: 'ok' } };
    } catch (err) {
      return { record, network: { check: 'failed', error: errorMessage(err) } };
    }
  }

  async get(id: string): Promise<SandboxRecord | undefined> {
    return this.store.get(id);
  }

  async list(): Promise<SandboxRecord[]> {
    return this.store.list();
  }

  private async mustGet(id: string): Promise<SandboxRecord> {
    const record = await this.store.get(id);
    if (!record) throw new NotFoundError(`sandbox ${id} not found`);
    return record;
  }
}
