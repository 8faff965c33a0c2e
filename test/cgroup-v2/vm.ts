/**
 * A cgroup v2 node for tests: a qemu guest (software emulation; this machine has no KVM) booting
 * the Debian kernel setup unpacks into the tools folder, with this machine's root shared read-only
 * over 9p under a tmpfs overlay, and a pure cgroup2 hierarchy at /sys/fs/cgroup. It runs vitest on
 * the given test files from this checkout and hands back vitest's JSON report through a second,
 * writable share. This host's own cgroup layout must not change (a hybrid v1 host: see
 * ../shared/design/machine-notes.md), so a v2 node exists only inside the guest.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFile } from '../../src/common/exec.js';

/** The checkout this file belongs to, from test/ or dist/test/ (the guest runs its tests from there, read-only). */
export const CHECKOUT = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

/** What the boot needs beyond the kernel: the shares, the overlay root, the virtio PCI transport. */
const BOOT_MODULES = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

export interface GuestKernel {
  dir: string;
  version: string;
  vmlinuz: string;
}

/** The kernel `scripts/setup --tests` unpacked (BERTH_TOOLS_DIR, else the checkout's .tools). */
export function guestKernel(): GuestKernel {
  const tools = process.env.BERTH_TOOLS_DIR ?? join(CHECKOUT, '.tools');
  const dir = join(tools, 'vm-kernel');
  const image = existsSync(join(dir, '.complete'))
    ? readdirSync(join(dir, 'boot')).find((f) => f.startsWith('vmlinuz-'))
    : undefined;
  if (!image)
    throw new Error(
      `no guest kernel under ${dir}: run ./scripts/setup --tests (it unpacks Debian's linux-image-amd64)`,
    );
  return { dir, version: image.slice('vmlinuz-'.length), vmlinuz: join(dir, 'boot', image) };
}

export interface GuestRun {
  /** vitest's exit code in the guest; undefined when the guest never got that far. */
  exitCode?: number;
  /** vitest's JSON report, when it wrote one. */
  report?: VitestJsonReport;
  /** vitest's own output and the guest's console. */
  vitestLog: string;
  console: string;
  seconds: number;
}

export interface VitestJsonReport {
  numTotalTests: number;
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: {
    name: string;
    status: string;
    assertionResults: { fullName: string; status: string; failureMessages: string[]; duration?: number }[];
  }[];
}

/** Boots the guest, runs `vitest run --config <config> [files]` in it, and powers it off. */
export async function runInGuest(opts: {
  config: string;
  files?: string[];
  timeoutMs: number;
  memoryMiB?: number;
}): Promise<GuestRun> {
  const kernel = guestKernel();
  const work = await mkdtemp(join(tmpdir(), 'berth-vm-'));
  const out = join(work, 'out');
  await mkdir(out);
  try {
    const initrd = await buildInitramfs(kernel, join(work, 'initramfs'));
    await writeFile(join(out, 'stage2.sh'), stage2Script(kernel, opts.config, opts.files ?? []), {
      mode: 0o755,
    });
    const t0 = performance.now();
    const consoleText = await boot(kernel, initrd, out, opts.timeoutMs, opts.memoryMiB ?? 3072);
    const seconds = (performance.now() - t0) / 1000;
    const read = (f: string) => readFile(join(out, f), 'utf8').catch(() => undefined);
    const rc = await read('rc');
    const report = await read('report.json');
    return {
      ...(rc !== undefined && rc.trim() !== '' ? { exitCode: Number(rc.trim()) } : {}),
      ...(report ? { report: JSON.parse(report) as VitestJsonReport } : {}),
      vitestLog: `${(await read('stage2.log')) ?? ''}${(await read('vitest.log')) ?? ''}`,
      console: consoleText,
      seconds,
    };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A busybox initramfs that loads the share and overlay modules, mounts this machine's root
 * read-only under a tmpfs overlay, mounts the writable out share into it, and switches to the
 * second stage the runner wrote there.
 */
async function buildInitramfs(kernel: GuestKernel, dir: string): Promise<string> {
  for (const d of ['bin', 'mod', 'proc', 'sys', 'dev', 'lower', 'upper', 'newroot'])
    await mkdir(join(dir, d), { recursive: true });
  await copyFile('/bin/busybox', join(dir, 'bin/busybox'));
  // modprobe resolves the dependency order from the modules.dep setup generated.
  const plan: string[] = [];
  for (const m of BOOT_MODULES)
    plan.push(await execFile('modprobe', ['-d', kernel.dir, '-S', kernel.version, '--show-depends', m]));
  const modules: string[] = [];
  for (const line of plan.join('\n').split('\n')) {
    const path = /^insmod (\S+)/.exec(line.trim())?.[1];
    if (!path) continue;
    const name = path.split('/').pop()!;
    if (modules.includes(name)) continue;
    modules.push(name);
    await copyFile(path, join(dir, 'mod', name));
  }
  const init = `#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in ${modules.join(' ')}; do $B insmod /mod/$m || echo "berth-vm: insmod $m failed"; done
$B mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=512000,cache=loose hostroot /lower || echo "berth-vm: cannot mount the host root"
$B mount -t tmpfs -o size=2g,mode=0755 tmpfs /upper
$B mkdir -p /upper/u /upper/w
$B mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || echo "berth-vm: overlay root failed"
$B mkdir -p /newroot/berth-vm-out
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 out /newroot/berth-vm-out || echo "berth-vm: cannot mount the out share"
$B umount /proc /sys
$B umount /dev
exec $B switch_root /newroot /bin/sh /berth-vm-out/stage2.sh
`;
  await writeFile(join(dir, 'init'), init);
  await chmod(join(dir, 'init'), 0o755);
  const image = join(dirname(dir), 'initramfs.cpio');
  await execFile('sh', [
    '-c',
    `cd "${dir}" && find . | /bin/busybox cpio -o -H newc > "${image}" 2>/dev/null`,
  ]);
  return image;
}

/**
 * The guest's second stage (PID 1 on the overlay root): the kernel filesystems, a pure cgroup2
 * hierarchy with the controllers delegated to children, module autoloading from the unpacked
 * kernel, a scratch tmpfs for test roots (overlayfs cannot take an overlay as its upper layer),
 * then vitest. It always powers off, writing vitest's exit code first.
 */
function stage2Script(kernel: GuestKernel, config: string, files: string[]): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return `set -u
O=/berth-vm-out
exec >$O/stage2.log 2>&1
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /dev/pts /dev/shm /berth-scratch
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for c in $(cat /sys/fs/cgroup/cgroup.controllers); do echo "+$c" > /sys/fs/cgroup/cgroup.subtree_control; done
mount -t tmpfs -o size=1500m tmpfs /berth-scratch
mkdir -p /lib/modules
mount --bind ${q(join(kernel.dir, 'lib/modules'))} /lib/modules
echo /sbin/modprobe > /proc/sys/kernel/modprobe
ip link set lo up
hostname berth-v2-guest
cd ${q(CHECKOUT)}
export HOME=/root TMPDIR=/berth-scratch PATH=${q(join(CHECKOUT, '.tools/bin'))}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
echo "stage2 ready after $(cut -d' ' -f1 /proc/uptime) s"
node node_modules/vitest/vitest.mjs run --config ${q(config)} --reporter=default --reporter=json --outputFile.json=$O/report.json ${files.map(q).join(' ')} >$O/vitest.log 2>&1
echo $? > $O/rc
sync
/bin/busybox poweroff -f
`;
}

async function boot(
  kernel: GuestKernel,
  initrd: string,
  out: string,
  timeoutMs: number,
  memoryMiB: number,
): Promise<string> {
  const args = [
    '-m',
    String(memoryMiB),
    '-smp',
    '2',
    '-accel',
    'tcg',
    '-nographic',
    '-no-reboot',
    '-kernel',
    kernel.vmlinuz,
    '-initrd',
    initrd,
    '-append',
    'console=ttyS0 quiet panic=-1',
    '-virtfs',
    'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs',
    `local,path=${out},mount_tag=out,security_model=none,multidevs=remap`,
  ];
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (c: Buffer) => (text += c.toString()));
  child.stderr.on('data', (c: Buffer) => (text += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  try {
    await new Promise<void>((resolvePromise, reject) => {
      child.once('error', (err) =>
        reject(
          new Error(
            `cannot run qemu-system-x86_64 (./scripts/setup installs qemu-system-x86): ${err.message}`,
          ),
        ),
      );
      child.once('exit', () => resolvePromise());
    });
  } finally {
    clearTimeout(timer);
  }
  return text;
}
