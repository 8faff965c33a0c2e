/**
 * Shared setup of the container tests: a busybox-static image built locally (applets as symlinks,
 * a passwd/group with an unprivileged user, a file where a directory might be expected), pushed
 * to a loopback registry, and a berthd that pulls from it over plain HTTP.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { berthCgroups } from '../helpers/cgroups.js';
import { startBerthd, type RunningBerthd } from '../helpers/berthd.js';
import { busyboxBinary, writeOciLayout, type FileSpec } from '../helpers/oci-images.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { registryConfigArgs } from '../images/support.js';

const APPLETS = [
  'sh',
  'echo',
  'sleep',
  'cat',
  'id',
  'ls',
  'grep',
  'true',
  'false',
  'touch',
  'head',
  'tail',
  'dd',
  'kill',
  'printf',
  'seq',
  'wc',
  'mkdir',
  'ps',
  'tr',
  'stat',
];

export async function tinyImageFiles(): Promise<FileSpec[]> {
  const busybox = await busyboxBinary();
  return [
    { path: 'bin', type: 'directory', mode: 0o755 },
    { path: 'bin/busybox', content: busybox, mode: 0o755 },
    ...APPLETS.map((a) => ({ path: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' })),
    { path: 'etc', type: 'directory', mode: 0o755 },
    {
      path: 'etc/passwd',
      content: 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n',
      mode: 0o644,
    },
    { path: 'etc/group', content: 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n', mode: 0o644 },
    { path: 'etc/notadir', content: 'a file\n', mode: 0o644 },
    { path: 'tmp', type: 'directory', mode: 0o1777 },
    { path: 'home/app', type: 'directory', mode: 0o755 },
  ];
}

export interface ContainerEnv {
  reg: TestRegistry;
  berthd: RunningBerthd;
  /** `<registry>/test/tiny:latest` */
  image: string;
  work: string;
  cleanup(): Promise<void>;
}

export async function startContainerEnv(opts: { env?: NodeJS.ProcessEnv } = {}): Promise<ContainerEnv> {
  const work = await mkdtemp(path.join(tmpdir(), 'berth-containers-'));
  const reg = await startRegistry();
  const layout = path.join(work, 'layout');
  await writeOciLayout(layout, 'tiny', { layers: [{ files: await tinyImageFiles() }], cmd: ['/bin/sh'] });
  await reg.push(layout, 'tiny', 'test/tiny', { destTag: 'latest' });
  const configArgs = await registryConfigArgs(work, [reg.host]);
  const berthd = await startBerthd({ args: configArgs, ...(opts.env ? { env: opts.env } : {}) });
  const env: ContainerEnv = {
    reg,
    berthd,
    image: `${reg.host}/test/tiny:latest`,
    work,
    // Through env.berthd: a test may replace the daemon (restart on the same root).
    async cleanup() {
      await env.berthd.stop();
      await leftoverSweep(env.berthd);
      await env.berthd.cleanup();
      await reg.stop();
      await rm(work, { recursive: true, force: true });
    },
  };
  return env;
}

/** Kills conmons and unmounts what a failed test left under the daemon's root/state (tests must not leak). */
export async function leftoverSweep(d: { root: string; state: string }): Promise<void> {
  for (const pid of [...conmonsUnder(d.state), ...pidHoldersUnder(d.state)]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const m of mountsUnder(d.root, d.state).reverse()) {
    try {
      execFileSync('umount', ['-l', m]);
    } catch {
      // already gone
    }
  }
}

/** Pids of running processes whose raw command line (NUL-separated) passes `matches`. */
function processesWhere(matches: (cmdline: string) => boolean): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (matches(readFileSync(`/proc/${p}/cmdline`, 'utf8'))) out.push(Number(p));
    } catch {
      // exited
    }
  }
  return out;
}

/** Pids of conmon processes whose command line names a path under `dir`. */
export function conmonsUnder(dir: string): number[] {
  return processesWhere(
    (cmd) => (cmd.startsWith('/usr/bin/conmon') || cmd.includes('conmon\0')) && cmd.includes(dir),
  );
}

/** Pids of pod PID-namespace holders (src/sandbox/pid-holder.ts) whose pin is under `dir`. */
export function pidHoldersUnder(dir: string): number[] {
  return processesWhere((cmd) => cmd.startsWith('berth-pid-holder ') && cmd.includes(dir));
}

export function mountsUnder(...dirs: string[]): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m && dirs.some((d) => m.startsWith(d)));
}

/** Berth's cgroup directories (every v1 controller's, or the v2 hierarchy's) whose name contains `id`. */
export function cgroupsOf(id: string): string[] {
  return berthCgroups()
    .filter((c) => path.basename(c).includes(id))
    .map((c) => path.join('/sys/fs/cgroup', c));
}
