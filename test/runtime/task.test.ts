import { access, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from '../../src/common/errors.js';
import { cgroupDirs, isCgroupV2, readCgroupFile } from '../../src/runtime/cgroups.js';
import { sharesToWeight } from '../../src/sandbox/cgroup-layout.js';
import type { TaskExit } from '../../src/runtime/exits.js';
import { isInterruptedCreate } from '../../src/runtime/task-types.js';
import { execFile } from '../../src/common/exec.js';
import { logLines, runtimeFixture, uniqueId, type RuntimeFixture } from './helpers.js';

let fx: RuntimeFixture;

beforeAll(async () => {
  fx = await runtimeFixture('task');
});

afterAll(async () => {
  await fx.cleanup();
});

const exists = (p: string): Promise<boolean> =>
  access(p).then(
    () => true,
    () => false,
  );

describe('tasks under conmon + runc', () => {
  it('echo prints hi into the CRI log and exits 0', async () => {
    const id = uniqueId('echo');
    await fx.run(id, { command: ['echo', 'hi'] });
    const exit = await fx.manager.wait(id, 20_000);
    expect(exit).toMatchObject({ id, exitCode: 0, oomKilled: false });
    const log = await fx.logText(id);
    expect(log).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+[+-]\d\d:\d\d stdout F hi\n$/);
    expect((await fx.manager.state(id)).status).toBe('stopped');
    await fx.manager.delete(id);
  });

  it('propagates the exit code and separates stdout from stderr', async () => {
    const id = uniqueId('code');
    await fx.run(id, { command: ['sh', '-c', 'echo out; echo err >&2; exit 42'] });
    expect((await fx.manager.wait(id, 20_000))?.exitCode).toBe(42);
    const log = await fx.logText(id);
    expect(logLines(log, 'stdout')).toEqual(['out']);
    expect(logLines(log, 'stderr')).toEqual(['err']);
    await fx.manager.delete(id);
  });

  it('create leaves the task created; start runs it; state reports both', async () => {
    const id = uniqueId('states');
    await fx.run(id, { command: ['sleep', '30'] }, { start: false });
    const created = await fx.manager.state(id);
    expect(created.status).toBe('created');
    expect(created.pid).toBeGreaterThan(0);
    // conmon is the container's parent.
    const ppid = (await readFile(`/proc/${created.pid}/status`, 'utf8')).match(/^PPid:\s*(\d+)/m)?.[1];
    expect(Number(ppid)).toBe(created.conmonPid);
    await fx.manager.start(id);
    expect((await fx.manager.state(id)).status).toBe('running');
    await fx.manager.pause(id);
    expect((await fx.manager.state(id)).status).toBe('paused');
    expect(await fx.manager.frozen(id)).toBe(true);
    await fx.manager.resume(id);
    expect(await fx.manager.frozen(id)).toBe(false);
    expect((await fx.manager.state(id)).status).toBe('running');
    await expect(fx.manager.delete(id)).rejects.toThrow(FailedPreconditionError);
    await fx.manager.delete(id, true);
    expect(await exists(fx.manager.taskDir(id))).toBe(false);
    for (const dir of await cgroupDirs(join(fx.cgroupParent, id))) expect(await exists(dir)).toBe(false);
    expect(
      await exists(`/proc/${created.conmonPid}/cmdline`).then(
        async (alive) => alive && (await readFile(`/proc/${created.conmonPid}/cmdline`, 'utf8')).includes(id),
      ),
    ).toBe(false);
  });

  it('release gives back the runtime state, conmon and cgroup of an exited task, and keeps its exit until delete', async () => {
    const id = uniqueId('release');
    await fx.run(id, { command: ['sleep', '30'] });
    // Still running: nothing is given back.
    expect(await fx.manager.release(id)).toBe(false);
    const running = await fx.manager.state(id);
    expect(running.status).toBe('running');
    await fx.manager.kill(id, 'SIGKILL');
    const exit = await fx.manager.wait(id, 20_000);
    expect(exit?.exitCode).toBe(137);
    // Concurrent releases share the work; both report the task released.
    expect(await Promise.all([fx.manager.release(id), fx.manager.release(id)])).toEqual([true, true]);
    expect(await fx.handlers.get('runc').state(id)).toBeUndefined();
    for (const dir of await cgroupDirs(join(fx.cgroupParent, id))) expect(await exists(dir)).toBe(false);
    // Gone, or a zombie not yet reaped (its cmdline is empty then).
    expect(await readFile(`/proc/${running.conmonPid}/cmdline`, 'utf8').catch(() => '')).not.toContain(id);
    expect(await fx.manager.state(id)).toMatchObject({ status: 'stopped', pid: 0, exit });
    expect(await fx.manager.readExit(id)).toEqual(exit);
    expect(await fx.manager.release(id)).toBe(true);
    // Delete and a late release do not collide; afterwards the task is gone and release a no-op.
    await Promise.all([fx.manager.delete(id), fx.manager.release(id)]);
    expect(await exists(fx.manager.taskDir(id))).toBe(false);
    expect(await exists(join(fx.manager.exitDir, id))).toBe(false);
    expect(await fx.manager.release(id)).toBe(false);
    expect(await fx.manager.release('never-existed')).toBe(false);
  });

  it('delete is idempotent and unknown tasks are NotFound', async () => {
    await fx.manager.delete('never-existed');
    await expect(fx.manager.state('never-existed')).rejects.toThrow(NotFoundError);
    await expect(fx.manager.frozen('never-existed')).rejects.toThrow(NotFoundError);
    await expect(fx.manager.start('never-existed')).rejects.toThrow(NotFoundError);
  });

  it('an unknown runtime handler is a NotFound and creates nothing', async () => {
    const id = uniqueId('nohandler');
    await expect(fx.run(id, { command: ['true'] }, { handler: 'kata' })).rejects.toThrow(
      /runtime handler "kata"/,
    );
    expect(await exists(fx.manager.taskDir(id))).toBe(false);
  });

  it('a runtime create failure is reported with the runtime reason and leaves nothing behind', async () => {
    const id = uniqueId('badcpuset');
    await expect(fx.run(id, { command: ['true'], resources: { cpusetCpus: '63' } })).rejects.toThrow(
      /creating container .* failed: .*cpuset/,
    );
    expect(await exists(fx.manager.taskDir(id))).toBe(false);
    for (const dir of await cgroupDirs(join(fx.cgroupParent, id))) expect(await exists(dir)).toBe(false);
  });

  it('the exit watcher reports exits that happened before it started and while it watches', async () => {
    const before = uniqueId('before');
    await fx.run(before, { command: ['sh', '-c', 'exit 3'] });
    await fx.manager.wait(before, 20_000);
    const watcher = fx.manager.exitWatcher();
    const seen = new Map<string, TaskExit>();
    watcher.on('exit', (e) => seen.set(e.id, e));
    await watcher.start();
    try {
      expect(seen.get(before)?.exitCode).toBe(3);
      const during = uniqueId('during');
      await fx.run(during, { command: ['sh', '-c', 'exit 5'] });
      await fx.manager.wait(during, 20_000);
      await expect.poll(() => seen.get(during)?.exitCode, { timeout: 5000 }).toBe(5);
      expect(seen.get(during)?.exitedAt).toBeInstanceOf(Date);
    } finally {
      watcher.stop();
    }
  });

  it('CPU quota, pids limit and memory limit are visible in the cgroup files; stats read them', async () => {
    const id = uniqueId('limits');
    await fx.run(id, {
      command: ['sleep', '30'],
      resources: {
        cpuQuota: 25000,
        cpuPeriod: 100000,
        pidsLimit: 17,
        memoryLimitBytes: 64 << 20,
        cpuShares: 256,
      },
    });
    const path = join(fx.cgroupParent, id);
    // The files of this node's layout: v1's per controller, or v2's unified ones.
    const v2 = await isCgroupV2();
    const quota = () =>
      v2 ? readCgroupFile(path, 'cpu', 'cpu.max') : readCgroupFile(path, 'cpu', 'cpu.cfs_quota_us');
    expect(await quota()).toBe(v2 ? '25000 100000' : '25000');
    if (v2) {
      expect(await readCgroupFile(path, 'cpu', 'cpu.weight')).toBe(String(sharesToWeight(256)));
      expect(await readCgroupFile(path, 'memory', 'memory.max')).toBe(String(64 << 20));
    } else {
      expect(await readCgroupFile(path, 'cpu', 'cpu.cfs_period_us')).toBe('100000');
      expect(await readCgroupFile(path, 'cpu', 'cpu.shares')).toBe('256');
      expect(await readCgroupFile(path, 'memory', 'memory.limit_in_bytes')).toBe(String(64 << 20));
    }
    expect(await readCgroupFile(path, 'pids', 'pids.max')).toBe('17');
    const stats = await fx.manager.stats(id);
    expect(stats.pidsCurrent).toBe(1);
    expect(stats.memoryUsageBytes).toBeGreaterThan(0);
    expect(stats.memoryWorkingSetBytes).toBeLessThanOrEqual(stats.memoryUsageBytes);
    expect(stats.cpuUsageNanos).toBeGreaterThan(0);
    await fx.manager.update(id, { pidsLimit: 9, cpuQuota: 50000, cpuPeriod: 100000 });
    expect(await readCgroupFile(path, 'pids', 'pids.max')).toBe('9');
    expect(await quota()).toBe(v2 ? '50000 100000' : '50000');
    await fx.manager.delete(id, true);
  });

  it('the pids limit makes forks past it fail', async () => {
    const id = uniqueId('pids');
    await fx.run(id, {
      // The limit leaves room for runc init's Go threads, which count against pids.max until it execs.
      command: ['sh', '-c', 'for i in $(seq 1 24); do sleep 30 & done; echo all-forked'],
      resources: { pidsLimit: 12 },
    });
    // The shell gives up at the first failed fork; as PID 1 its exit ends the container.
    const exit = await fx.manager.wait(id, 20_000);
    expect(exit?.exitCode).not.toBe(0);
    const log = await fx.logText(id);
    expect(logLines(log, 'stderr').join('\n')).toMatch(/can't fork|Resource temporarily unavailable/);
    expect(logLines(log, 'stdout')).not.toContain('all-forked');
    // The kernel counted the refused forks in the container's cgroup.
    expect(await readCgroupFile(join(fx.cgroupParent, id), 'pids', 'pids.events')).toMatch(/^max [1-9]/);
    await fx.manager.delete(id, true);
  });

  it('a container allocating past its memory limit is OOM-killed: 137 and oomKilled', async () => {
    const id = uniqueId('oom');
    await fx.run(id, {
      command: ['sh', '-c', 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=200; echo dd=$?'],
      // Without swap limit equal to memory the kernel could swap instead of killing (this host has none, others might).
      resources: { memoryLimitBytes: 32 << 20, memorySwapLimitBytes: 32 << 20 },
      tmpfs: [{ containerPath: '/dev/shm', sizeBytes: 256 << 20 }],
    });
    // Only dd is killed and the shell exits 0: like containerd and CRI-O, an OOM kill anywhere in the
    // container's cgroup marks the task.
    const exit = await fx.manager.wait(id, 30_000);
    expect(exit).toMatchObject({ exitCode: 0, oomKilled: true });
    expect(logLines(await fx.logText(id), 'stdout')).toEqual(['dd=137']);
    // Releasing removes the cgroup, whose oom_kill counter was evidence: the exit still says OOM.
    expect(await fx.manager.release(id)).toBe(true);
    expect(await fx.manager.readExit(id)).toMatchObject({ exitCode: 0, oomKilled: true });
    await fx.manager.delete(id, true);
    // Now the init process itself is the victim.
    const init = uniqueId('oominit');
    await fx.run(init, {
      command: ['sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived'],
      resources: { memoryLimitBytes: 32 << 20, memorySwapLimitBytes: 32 << 20 },
    });
    const initExit = await fx.manager.wait(init, 60_000);
    expect(initExit).toMatchObject({ exitCode: 137, oomKilled: true });
    expect(await fx.logText(init)).not.toContain('survived');
    await fx.manager.delete(init, true);
  });

  it('creating an id that exists is an AlreadyExists and leaves the first task alone', async () => {
    const id = uniqueId('dup');
    await fx.run(id, { command: ['sleep', '30'] });
    const before = await fx.manager.state(id);
    await expect(fx.run(id, { command: ['true'] })).rejects.toThrow(AlreadyExistsError);
    expect(await fx.manager.state(id)).toEqual(before);
    await fx.manager.delete(id, true);
  });

  it('a create killed before it recorded the task does not block the next create of that id', async () => {
    const id = uniqueId('interrupted');
    // What a create killed between making the folder and writing task.json leaves.
    const dir = fx.manager.taskDir(id);
    await mkdir(join(dir, 'persist'), { recursive: true });
    await writeFile(join(dir, 'config.json'), '{"half": ');
    await fx.run(id, { command: ['echo', 'again'] });
    expect((await fx.manager.wait(id, 20_000))?.exitCode).toBe(0);
    expect(logLines(await fx.logText(id), 'stdout')).toEqual(['again']);
    // Its records are whole JSON, written by rename: no temporary files stay beside them.
    expect(JSON.parse(await readFile(join(dir, 'task.json'), 'utf8'))).toMatchObject({
      id,
      conmonPid: expect.any(Number),
    });
    expect(JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'))).toHaveProperty('ociVersion');
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    await fx.manager.delete(id);
  });

  it('a start run again after it happened resolves, and the task ran once', async () => {
    const id = uniqueId('restart-step');
    await fx.run(id, { command: ['sh', '-c', 'echo ran'] });
    expect((await fx.manager.wait(id, 10_000))?.exitCode).toBe(0);
    // The start step re-run after a crash between the start and its record: the task is no
    // longer created, and that is this start having happened.
    await fx.manager.start(id);
    expect(logLines(await fx.logText(id), 'stdout')).toEqual(['ran']);
    await fx.manager.delete(id, true);
  });

  it('a start that failed fails again when run again, naming the first failure', async () => {
    const id = uniqueId('start-fails');
    await fx.run(id, { command: ['sleep', '30'] }, { start: false });
    // The runtime loses the container behind the manager's back: its start cannot succeed.
    await execFile('runc', ['--root', join(fx.dir, 'runc'), 'delete', '--force', id]);
    const first = (await fx.manager.start(id).catch((e: unknown) => e)) as Error;
    expect(first).toBeInstanceOf(Error);
    const again = (await fx.manager.start(id).catch((e: unknown) => e)) as Error;
    expect(again).toBeInstanceOf(FailedPreconditionError);
    expect(again.message).toContain(`task ${id} failed to start: ${first.message.split('\n')[0]}`);
    await fx.manager.delete(id, true);
  });

  it('only a task a create left half made counts as an interrupted create', () => {
    const base = { id: 'x', pid: 0, conmonPid: 0, handler: 'runc', logPath: '/l' };
    const exit = { id: 'x', exitCode: 0, exitedAt: new Date(), oomKilled: false };
    expect(isInterruptedCreate({ ...base, status: 'stopped' })).toBe(true);
    expect(isInterruptedCreate({ ...base, status: 'stopped', exit })).toBe(false); // it ran and exited
    for (const status of ['created', 'running', 'paused'] as const)
      expect(isInterruptedCreate({ ...base, status })).toBe(false);
    expect(isInterruptedCreate(undefined)).toBe(false);
  });

  it('a tty container writes its terminal output to the log', async () => {
    const id = uniqueId('tty');
    await fx.run(id, { command: ['sh', '-c', 'tty; echo hi'], tty: true });
    expect((await fx.manager.wait(id, 20_000))?.exitCode).toBe(0);
    // The terminal turns \n into \r\n, and conmon keeps the \r.
    expect(logLines(await fx.logText(id), 'stdout')).toEqual(['/dev/pts/0\r', 'hi\r']);
    await fx.manager.delete(id);
  });

  it('a created task that never started can be stopped and deleted', async () => {
    const id = uniqueId('neverstarted');
    await fx.run(id, { command: ['true'] }, { start: false });
    // runc's waiting init exits on SIGTERM with its own code (2 with runc 1.1), not the program's.
    const exit = await fx.manager.stop(id, 5000);
    expect(exit.exitCode).not.toBe(0);
    expect((await fx.manager.state(id)).status).toBe('stopped');
    await fx.manager.delete(id);
    expect(await exists(fx.manager.taskDir(id))).toBe(false);
  });

  it('the bundle and exit file belong to the task until delete', async () => {
    const id = uniqueId('files');
    await fx.run(id, { command: ['true'] });
    await fx.manager.wait(id, 20_000);
    expect((await stat(join(fx.manager.exitDir, id))).isFile()).toBe(true);
    await fx.manager.delete(id);
    await fx.manager.delete(id);
    expect(await exists(join(fx.manager.exitDir, id))).toBe(false);
  });
});
