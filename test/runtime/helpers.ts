/** Test fixtures for runtime integration tests: busybox rootfs, a task manager on a temp root, cleanup. */
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from '../../src/common/exec.js';
import { PassThrough } from 'node:stream';
import { removeCgroup } from '../../src/runtime/cgroups.js';
import { CrunHandler, HandlerRegistry, RuncHandler } from '../../src/runtime/handler.js';
import { buildSpec, type ContainerRequest } from '../../src/runtime/spec.js';
import { TaskManager } from '../../src/runtime/task.js';

/** A rootfs with static busybox and its applets, plus /etc/passwd and /etc/group with a non-root user. */
export async function makeBusyboxRootfs(dir: string): Promise<string> {
  const rootfs = join(dir, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev'])
    await mkdir(join(rootfs, d), { recursive: true });
  await copyFile('/bin/busybox', join(rootfs, 'bin/busybox'));
  await execFile('/usr/sbin/chroot', [rootfs, '/bin/busybox', '--install', '-s', '/bin']);
  await writeFile(
    join(rootfs, 'etc/passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000::/home/user:/bin/sh\n',
  );
  await writeFile(join(rootfs, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\nuser:x:1000:\nstaff:x:50:user\n');
  return rootfs;
}

export interface RuntimeFixture {
  dir: string;
  rootfs: string;
  manager: TaskManager;
  handlers: HandlerRegistry;
  /** Unique cgroup parent of every container of this fixture. */
  cgroupParent: string;
  request(id: string, extra?: Partial<ContainerRequest>): ContainerRequest;
  /** Creates (and by default starts) a task from a request; returns its log path. */
  run(
    id: string,
    extra?: Partial<ContainerRequest>,
    opts?: { start?: boolean; handler?: string; stopSignal?: string; stdin?: boolean; stdinOnce?: boolean },
  ): Promise<string>;
  logText(id: string): Promise<string>;
  cleanup(): Promise<void>;
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

export async function runtimeFixture(name: string): Promise<RuntimeFixture> {
  const dir = await mkdtemp(join(tmpdir(), `berth-rt-${name}-`));
  const rootfs = await makeBusyboxRootfs(dir);
  await mkdir(join(dir, 'logs'));
  const handlers = new HandlerRegistry([
    new RuncHandler({ root: join(dir, 'runc') }),
    new CrunHandler({ root: join(dir, 'crun'), wrapperDir: join(dir, 'bin') }),
  ]);
  const manager = new TaskManager({ root: join(dir, 'state'), handlers });
  await manager.init();
  const cgroupParent = `/${uniqueId(`berth-test-${name}`)}`;
  const ids = new Set<string>();
  const fixture: RuntimeFixture = {
    dir,
    rootfs,
    manager,
    handlers,
    cgroupParent,
    request: (id, extra = {}) => ({ id, rootfsPath: rootfs, cgroupParent, ...extra }),
    async run(id, extra = {}, opts = {}) {
      ids.add(id);
      const { spec } = await buildSpec(fixture.request(id, extra));
      const logPath = join(dir, 'logs', `${id}.log`);
      await manager.create({
        id,
        spec,
        logPath,
        ...(opts.handler ? { runtimeHandler: opts.handler } : {}),
        ...(opts.stopSignal ? { stopSignal: opts.stopSignal } : {}),
        ...(opts.stdin ? { stdin: true, stdinOnce: opts.stdinOnce === true } : {}),
      });
      if (opts.start ?? true) await manager.start(id);
      return logPath;
    },
    logText: (id) => readFile(join(dir, 'logs', `${id}.log`), 'utf8').catch(() => ''),
    async cleanup() {
      const known = await readdir(join(dir, 'state', 'tasks')).catch(() => [] as string[]);
      for (const id of new Set([...ids, ...known])) await manager.delete(id, true).catch(() => undefined);
      await removeCgroup(cgroupParent).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** The `text` parts of a CRI log's lines for one stream, in order. */
export function logLines(log: string, stream?: 'stdout' | 'stderr'): string[] {
  return log
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(' '))
    .filter((f) => stream === undefined || f[1] === stream)
    .map((f) => f.slice(3).join(' '));
}

/** A stream that collects what is written as text; `waitFor(re)` resolves once the text matches. */
export function textSink(): PassThrough & { text: () => string; waitFor: (re: RegExp) => Promise<void> } {
  const sink = new PassThrough();
  let text = '';
  const waiters: Array<{ re: RegExp; resolve: () => void }> = [];
  sink.on('data', (b: Buffer) => {
    text += b.toString('utf8');
    for (const w of [...waiters])
      if (w.re.test(text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
  });
  return Object.assign(sink, {
    text: () => text,
    waitFor: (re: RegExp) =>
      re.test(text) ? Promise.resolve() : new Promise<void>((resolve) => waiters.push({ re, resolve })),
  });
}
