import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RootLock, processStartTicks } from '../../src/daemon/lock.js';

const dirs: string[] = [];
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

async function lockPath() {
  const dir = await mkdtemp(join(tmpdir(), 'berth-lock-'));
  dirs.push(dir);
  return join(dir, 'berthd.lock');
}

describe('root lock', () => {
  it('refuses a second holder and names the first', async () => {
    const path = await lockPath();
    const lock = await RootLock.acquire(path);
    await expect(RootLock.acquire(path)).rejects.toThrow(`another berthd (pid ${process.pid}`);
    await lock.release();
    const again = await RootLock.acquire(path);
    await again.release();
  });

  it('takes over a lock whose holder has exited', async () => {
    const path = await lockPath();
    const child = spawn('sleep', ['30']);
    const ticks = processStartTicks(child.pid!);
    await writeFile(path, JSON.stringify({ pid: child.pid, startTicks: ticks, startedAt: 'then' }));
    await expect(RootLock.acquire(path)).rejects.toThrow(`pid ${child.pid}`);
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const lock = await RootLock.acquire(path);
    expect(JSON.parse(await readFile(path, 'utf8')).pid).toBe(process.pid);
    await lock.release();
  });

  it('does not mistake a recycled pid for the holder', async () => {
    const path = await lockPath();
    // Our own pid, but with a start time that is not ours: the recorded process is gone.
    await writeFile(path, JSON.stringify({ pid: process.pid, startTicks: '1', startedAt: 'long ago' }));
    const lock = await RootLock.acquire(path);
    await lock.release();
  });
});
