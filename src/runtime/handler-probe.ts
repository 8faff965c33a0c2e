/**
 * Probes whether an OCI runtime can create a container on this host: `create` of a throwaway bundle,
 * then `delete --force`. Run once per handler; bounded by a timeout so a wedged runtime reports instead of hanging.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileCapture } from '../common/exec.js';
import { errorMessage } from '../common/errors.js';
import { removeCgroup } from './cgroups.js';

const PROBE_TIMEOUT_MS = 10_000;

/** Runs a runtime verb whose child may keep stdio open (create): stdio goes to a file, we wait for exit only. */
async function runDetachedStdio(
  binary: string,
  args: string[],
  errPath: string,
): Promise<{ code: number | null; stderr: string }> {
  const errFile = await open(errPath, 'w');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn(binary, args, { stdio: ['ignore', 'ignore', errFile.fd] });
      const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
      child.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on('exit', (c, signal) => {
        clearTimeout(timer);
        resolve(signal === 'SIGKILL' ? null : c);
      });
    });
    return { code, stderr: await readFile(errPath, 'utf8') };
  } finally {
    await errFile.close();
  }
}

/** Returns undefined when the runtime works, or its reason for refusing. */
export async function probeRuntime(
  binary: string,
  globalArgs: readonly string[],
): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-probe-'));
  const id = `berth-probe-${process.pid}-${randomBytes(4).toString('hex')}`;
  const cgroup = `/${id}`;
  try {
    for (const sub of ['dev', 'proc']) await mkdir(join(dir, 'rootfs', sub), { recursive: true });
    // Only has to exist and be executable: the process is never started.
    await writeFile(join(dir, 'rootfs', 'probe'), '', { mode: 0o755 });
    const config = {
      ociVersion: '1.0.2',
      process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/probe'], env: [], cwd: '/' },
      root: { path: join(dir, 'rootfs'), readonly: true },
      mounts: [{ destination: '/proc', type: 'proc', source: 'proc', options: [] }],
      linux: {
        namespaces: [
          { type: 'pid' },
          { type: 'mount' },
          { type: 'ipc' },
          { type: 'uts' },
          { type: 'network' },
        ],
        cgroupsPath: cgroup,
        resources: {},
      },
    };
    await writeFile(join(dir, 'config.json'), JSON.stringify(config));
    let result: { code: number | null; stderr: string };
    try {
      result = await runDetachedStdio(
        binary,
        [...globalArgs, 'create', '--bundle', dir, id],
        join(dir, 'stderr'),
      );
    } catch (err) {
      return errorMessage(err);
    }
    await execFileCapture(binary, [...globalArgs, 'delete', '--force', id], { timeoutMs: PROBE_TIMEOUT_MS });
    if (result.code === null) return `"${binary} create" did not finish within ${PROBE_TIMEOUT_MS / 1000}s`;
    if (result.code !== 0)
      return result.stderr.trim().replace(/\s+/g, ' ') || `"${binary} create" exited ${result.code}`;
    return undefined;
  } finally {
    await removeCgroup(cgroup).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}
