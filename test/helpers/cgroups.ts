/**
 * Where the leak checks look for Berth's cgroups, on whichever layout this node has: each v1
 * controller's `berth` directory (memory, pids, cpu, freezer) or the unified hierarchy's on v2.
 * A node with neither layout fails the check instead of letting it compare nothing.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCgroupLayout } from '../../src/sandbox/cgroup-layout.js';
import { parseMountInfo } from '../../src/sandbox/mounts.js';

const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'freezer'];

/** The `berth` cgroup directories of this node's layout (they need not exist yet). */
export function berthCgroupRoots(): string[] {
  const layout = parseCgroupLayout(parseMountInfo(readFileSync('/proc/self/mountinfo', 'utf8')));
  if (layout.version === 2) return [path.join(layout.mountPoint, 'berth')];
  const roots = V1_CONTROLLERS.flatMap((c) => {
    const mount = layout.hierarchies.get(c);
    return mount === undefined ? [] : [path.join(mount, 'berth')];
  });
  if (roots.length === 0)
    throw new Error(
      `no v1 hierarchy of ${V1_CONTROLLERS.join(', ')} is mounted: nothing to check cgroups in`,
    );
  return roots;
}

/** Every cgroup directory below the `berth` roots, as paths relative to /sys/fs/cgroup. */
export function berthCgroups(): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      const p = path.join(dir, e.name);
      out.push(path.relative('/sys/fs/cgroup', p));
      walk(p);
    }
  };
  for (const root of berthCgroupRoots()) if (existsSync(root)) walk(root);
  return out.sort();
}
