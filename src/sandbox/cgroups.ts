/**
 * The pod cgroup parent with the cgroupfs driver: `<hierarchy>/<root>/pod-<id>` in every v1
 * hierarchy (runc later creates the containers' cgroups beneath it in each of them), or in the
 * single unified hierarchy on a cgroup v2 host; or a parent the caller chose (kubelet's). The
 * layout comes from cgroup-layout.ts: a hybrid host (v1 controllers plus a mostly empty cgroup2
 * `unified` mount) is driven as v1.
 */
import { mkdir, readFile, readdir, rmdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { BerthError, FailedPreconditionError, InvalidArgumentError } from '../common/errors.js';
import {
  detectCgroupLayout,
  resourceWrites,
  validatePodResources,
  type CgroupLayout,
  type CgroupWrite,
  type PodResources,
} from './cgroup-layout.js';
import { assertSandboxId } from './namespaces.js';

const ROOT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Creates and removes pod cgroups. `create` is idempotent (it re-applies the resources);
 * `remove` succeeds when the cgroup is already gone and refuses, naming what remains, while any
 * process or child cgroup is still inside.
 */
export class PodCgroups {
  /**
   * @param root the Berth-owned directory under each hierarchy's root, `berth` by default;
   *   tests pass a unique name so they can run in parallel and clean up after themselves.
   */
  constructor(
    private readonly layout: CgroupLayout,
    readonly root = 'berth',
  ) {
    if (!ROOT_NAME.test(root))
      throw new InvalidArgumentError(`cgroup root ${JSON.stringify(root)} must match ${ROOT_NAME.source}`);
  }

  static async detect(root?: string): Promise<PodCgroups> {
    return new PodCgroups(await detectCgroupLayout(), root);
  }

  get version(): 1 | 2 {
    return this.layout.version;
  }

  /** The cgroup path as runc's `cgroupsPath` takes it, e.g. `/berth/pod-<id>`. */
  cgroupPath(id: string): string {
    assertSandboxId(id);
    return `/${this.root}/pod-${id}`;
  }

  /** Directory of the pod cgroup in each hierarchy, keyed like CgroupWrite.hierarchy. */
  dirs(id: string): Map<string, string> {
    return this.dirsAt(this.cgroupPath(id));
  }

  private dirsAt(rel: string): Map<string, string> {
    if (this.layout.version === 2) return new Map([['unified', path.join(this.layout.mountPoint, rel)]]);
    return new Map([...this.layout.hierarchies].map(([k, mount]) => [k, path.join(mount, rel)]));
  }

  /**
   * Creates the pod cgroup in every hierarchy and applies the resources. A resource the host's
   * controllers cannot take fails with a FailedPreconditionError before any directory is made;
   * any later failure removes the pod directories this call made (never a pre-existing pod's).
   */
  async create(id: string, resources: PodResources = {}): Promise<string> {
    const rel = this.cgroupPath(id);
    await this.make(rel, resources);
    return rel;
  }

  /**
   * A pod cgroup the caller chose (kubelet's `<root>/kubepods/<qos>/pod<uid>` with the cgroupfs
   * driver) holds the sandbox's containers directly, as containerd places them. kubelet makes it
   * and sets its limits: true when it exists in every hierarchy, and is then used as it is.
   */
  async parentExists(parent: string): Promise<boolean> {
    const dirs = [...this.dirsAt(parent).values()];
    const exists = await Promise.all(
      dirs.map((d) =>
        stat(d).then(
          () => true,
          () => false,
        ),
      ),
    );
    return exists.every(Boolean);
  }

  /** Makes a missing parent (another CRI client's) with the pod resources; idempotent like create. */
  async makeParent(parent: string, resources: PodResources = {}): Promise<void> {
    await this.make(parent, resources);
  }

  /** Removes a parent that makeParent made, once nothing is left in it; one still in use stays. */
  async removeParent(parent: string): Promise<void> {
    const dirs = this.dirsAt(parent);
    for (const dir of dirs.values()) {
      if ((await readProcs(dir)).length > 0 || (await childCgroups(dir)).length > 0) return;
    }
    await this.removeDirs(dirs);
  }

  private async make(rel: string, resources: PodResources): Promise<void> {
    validatePodResources(resources);
    const dirs = this.dirsAt(rel);
    const writes = resourceWrites(this.layout.version, resources);
    const needed = await this.checkControllers(rel, writes);
    const createdDirs = new Map<string, string>();
    try {
      if (this.layout.version === 2) await this.enableV2Controllers(needed, rel);
      for (const [hierarchy, dir] of dirs) {
        if ((await mkdir(dir, { recursive: true })) !== undefined) createdDirs.set(hierarchy, dir);
        if (hierarchy === 'cpuset' && this.layout.version === 1) {
          await inheritCpuset(dir, this.layout.hierarchies.get('cpuset') ?? dir);
        }
      }
      for (const w of writes) {
        await writeCgroupFile(path.join(dirs.get(w.hierarchy) as string, w.file), w.value);
      }
    } catch (err) {
      await this.removeDirs(createdDirs).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Fails, naming each missing controller, when the writes need one the host does not offer: a
   * v1 hierarchy that is not mounted, or a v2 controller absent from the root's cgroup.controllers
   * (on a hybrid host cpu and memory are bound to v1). Returns the v2 controllers the writes need.
   */
  private async checkControllers(rel: string, writes: readonly CgroupWrite[]): Promise<string[]> {
    const filesBy = new Map<string, string[]>();
    for (const w of writes) {
      // v2 interface files are named `<controller>.<knob>`; v1 writes are keyed by hierarchy.
      const controller = this.layout.version === 2 ? (w.file.split('.')[0] as string) : w.hierarchy;
      filesBy.set(controller, [...(filesBy.get(controller) ?? []), w.file]);
    }
    const offered =
      this.layout.version === 2
        ? await readControllers(path.join(this.layout.mountPoint, 'cgroup.controllers'))
        : [...this.layout.hierarchies.keys()];
    const missing = [...filesBy].filter(([c]) => !offered.includes(c));
    if (missing.length > 0) {
      const where =
        this.layout.version === 2
          ? `the cgroup v2 hierarchy at ${this.layout.mountPoint} offers only [${offered.join(' ')}] in cgroup.controllers`
          : 'no cgroup v1 hierarchy is mounted for it';
      const list = missing.map(([c, files]) => `${c} (for ${files.join(', ')})`).join(', ');
      throw new FailedPreconditionError(
        `cannot set the resources of pod cgroup ${rel}: missing cgroup controller ${list}; ${where}`,
      );
    }
    return this.layout.version === 2 ? [...filesBy.keys()] : [];
  }

  /** Pids in the pod cgroup, across hierarchies (deduplicated). */
  async pids(id: string): Promise<number[]> {
    const pids = new Set<number>();
    for (const dir of this.dirs(id).values()) {
      for (const p of await readProcs(dir)) pids.add(p);
    }
    return [...pids].sort((a, b) => a - b);
  }

  /** True when the pod cgroup exists in at least one hierarchy. */
  async exists(id: string): Promise<boolean> {
    for (const dir of this.dirs(id).values()) {
      if (
        await readdir(dir).then(
          () => true,
          () => false,
        )
      )
        return true;
    }
    return false;
  }

  /** Sandbox ids that have a pod cgroup under Berth's root (read from the first hierarchy). */
  async ids(): Promise<string[]> {
    const first = this.dirs('x').values().next().value;
    if (first === undefined) return [];
    const entries = await readdir(path.dirname(first), { withFileTypes: true }).catch(() => []);
    return entries
      .filter((e) => e.isDirectory() && e.name.startsWith('pod-'))
      .map((e) => e.name.slice('pod-'.length))
      .sort();
  }

  /** Removes the pod cgroup from every hierarchy; only when it is empty. */
  async remove(id: string): Promise<void> {
    await this.assertRemovable(id);
    await this.removeDirs(this.dirs(id));
  }

  /**
   * Throws a FailedPreconditionError naming the processes or child cgroups still in the pod
   * cgroup; succeeds when it is empty or absent. Lets callers check before tearing anything down.
   */
  async assertRemovable(id: string): Promise<void> {
    for (const [hierarchy, dir] of this.dirs(id)) {
      const procs = await readProcs(dir);
      if (procs.length > 0) {
        throw new FailedPreconditionError(
          `pod cgroup ${this.cgroupPath(id)} still has processes ${procs.join(', ')} (${hierarchy}); stop them first`,
        );
      }
      const children = await childCgroups(dir);
      if (children.length > 0) {
        throw new FailedPreconditionError(
          `pod cgroup ${this.cgroupPath(id)} still has child cgroups ${children.join(', ')} (${hierarchy}); remove its containers first`,
        );
      }
    }
  }

  private async removeDirs(dirs: Map<string, string>): Promise<void> {
    for (const [hierarchy, dir] of dirs) {
      try {
        await rmdir(dir);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue;
        throw new BerthError(
          'internal',
          `cannot remove cgroup ${dir} (${hierarchy}): ${code ?? String(err)}`,
          { cause: err },
        );
      }
    }
  }

  /**
   * Lets the pod cgroup's ancestors (the Berth root for Berth's own) pass down the controllers the
   * host offers, as a v2 driver must: a cgroup only gets the controllers its parent lists in
   * `cgroup.subtree_control`. The root
   * keeps them on failure (other pods may rely on them; runc never turns them off either).
   */
  private async enableV2Controllers(needed: readonly string[], rel: string): Promise<void> {
    if (this.layout.version !== 2) return;
    const mount = this.layout.mountPoint;
    const offered = await readControllers(path.join(mount, 'cgroup.controllers'));
    const wanted = V2_DELEGATED_CONTROLLERS.filter((c) => offered.includes(c));
    // The root and every ancestor of the pod cgroup (`/berth` for Berth's own pods).
    const ancestors = [mount];
    for (const part of path.dirname(rel).split('/').filter(Boolean))
      ancestors.push(path.join(ancestors.at(-1)!, part));
    await mkdir(ancestors.at(-1)!, { recursive: true });
    // One controller at a time: a controller the kernel will not delegate (e.g. in a threaded
    // subtree) must not stop the others unless a requested resource needs it.
    for (const dir of ancestors) {
      const file = path.join(dir, 'cgroup.subtree_control');
      for (const c of wanted) {
        await writeFile(file, `+${c}`).catch((err: NodeJS.ErrnoException) => {
          if (!needed.includes(c)) return;
          throw new FailedPreconditionError(
            `cannot enable the ${c} cgroup controller in ${file}: ${err.code ?? String(err)}`,
            { cause: err },
          );
        });
      }
    }
  }
}

/** Controllers a v2 pod cgroup gets from its parent, so runc can set container limits beneath it. */
export const V2_DELEGATED_CONTROLLERS = ['cpu', 'cpuset', 'memory', 'pids', 'io', 'hugetlb'] as const;

async function readControllers(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).split(/\s+/).filter((c) => c !== '');
}

/** v1 cpuset children start with empty cpus/mems and refuse tasks: copy them down from the mount. */
async function inheritCpuset(dir: string, mount: string): Promise<void> {
  const chain: string[] = [];
  for (let d = dir; d !== mount && d.startsWith(`${mount}/`); d = path.dirname(d)) chain.unshift(d);
  for (const d of chain) {
    const parent = path.dirname(d);
    for (const f of ['cpuset.cpus', 'cpuset.mems']) {
      const own = (await readFile(path.join(d, f), 'utf8')).trim();
      if (own === '')
        await writeCgroupFile(path.join(d, f), (await readFile(path.join(parent, f), 'utf8')).trim());
    }
  }
}

async function writeCgroupFile(file: string, value: string): Promise<void> {
  try {
    await writeFile(file, value);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new FailedPreconditionError(
        `cannot write ${value} to ${file}: the kernel offers no such file (its controller is not enabled for this cgroup, or the kernel lacks the feature)`,
        { cause: err },
      );
    }
    if (code === 'EINVAL' || code === 'EBUSY' || code === 'ERANGE') {
      throw new InvalidArgumentError(`the kernel refused ${value} for ${file} (${code})`, { cause: err });
    }
    throw new BerthError('internal', `cannot write ${value} to ${file}: ${code ?? String(err)}`, {
      cause: err,
    });
  }
}

async function readProcs(dir: string): Promise<number[]> {
  const text = await readFile(path.join(dir, 'cgroup.procs'), 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return '';
    throw err;
  });
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map(Number);
}

async function childCgroups(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}
