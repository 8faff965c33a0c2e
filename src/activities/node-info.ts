/** node:info: reports the versions of the OCI runtime tools on this node. */
import { execFileCapture } from '../common/exec.js';

export interface RuntimeVersion {
  name: string;
  path: string;
  version: string;
}

export interface NodeInfoActivityDeps {
  binaries: { runc: string; runcDebian: string; crun: string; runsc: string; conmon: string };
}

/** The first line of `<tool> --version` that names a version, or why there is none. */
export async function toolVersion(name: string, path: string): Promise<RuntimeVersion> {
  try {
    const r = await execFileCapture(path, ['--version'], { timeoutMs: 5_000 });
    const text = `${r.stdout}\n${r.stderr}`;
    const match = /version:?\s*v?(\d+\.\d+(?:\.\d+)?[^\s,]*)/i.exec(text);
    return {
      name,
      path,
      version: match?.[1] ?? (r.code === 0 ? text.trim().split('\n')[0]! : `error: exit ${r.code}`),
    };
  } catch {
    return { name, path, version: 'not installed' };
  }
}

/** The versions of the OCI runtime tools berthd is configured to run. */
export function runtimeVersions(binaries: NodeInfoActivityDeps['binaries']): Promise<RuntimeVersion[]> {
  const { runc, runcDebian, crun, runsc, conmon } = binaries;
  return Promise.all([
    toolVersion('runc', runc),
    toolVersion('runc-debian', runcDebian),
    toolVersion('crun', crun),
    toolVersion('runsc', runsc),
    toolVersion('conmon', conmon),
  ]);
}

export function createNodeInfoActivities(deps: NodeInfoActivityDeps) {
  return {
    collectRuntimeVersions: (): Promise<RuntimeVersion[]> => runtimeVersions(deps.binaries),
  };
}
