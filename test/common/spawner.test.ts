// The spawner process berthd routes exec.ts through: same results as spawning directly.
import { mkdtemp, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile, execFileCapture, spawnerInUse, useSpawner } from '../../src/common/exec.js';
import { Spawner } from '../../src/common/spawner.js';

let spawner: Spawner;
let dir: string;

beforeAll(async () => {
  dir = await realpath(await mkdtemp(path.join(tmpdir(), 'berth-spawner-')));
  spawner = await Spawner.start();
  useSpawner(spawner);
});

afterAll(async () => {
  useSpawner(undefined);
  spawner.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('exec through the spawner', () => {
  it('runs the program from the spawner, not from this process', async () => {
    expect(spawnerInUse()).toBe(spawner);
    const ppid = (await execFile('sh', ['-c', 'echo $PPID'])).trim();
    expect(Number(ppid)).not.toBe(process.pid);
  });

  it('passes arguments, stdin, environment and working directory, and returns output and exit code', async () => {
    const r = await execFileCapture(
      'sh',
      ['-c', 'read line; echo "$line $1 $GREETING $(pwd)"; echo oops >&2; exit 3', 'sh', 'arg'],
      { input: 'from-stdin\n', env: { PATH: process.env.PATH, GREETING: 'hello' }, cwd: dir },
    );
    expect(r).toEqual({ code: 3, signal: null, stdout: `from-stdin arg hello ${dir}\n`, stderr: 'oops\n' });
  });

  it('at a timeout with killGroupOnTimeout, kills the children that hold the output open too', async () => {
    // A duration no other sleep has: it names the background child for pgrep.
    const marker = `sleep 29.${String(process.pid).padStart(7, '0')}`;
    const t0 = Date.now();
    // The shell's background child inherits stdout: killing the shell alone leaves the pipe open.
    const r = await execFileCapture('sh', ['-c', `${marker} & wait`], {
      timeoutMs: 300,
      killGroupOnTimeout: true,
    });
    expect(r.signal).toBe('SIGKILL');
    expect(Date.now() - t0).toBeLessThan(10_000);
    const left = await execFileCapture('pgrep', ['-f', marker]);
    expect(left.stdout.trim(), 'the background child outlived the timeout').toBe('');
  });

  it('keeps binary-safe input and output, and runs calls concurrently', async () => {
    const input = Buffer.from([0, 1, 2, 255, 10]);
    const outs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => execFile('sh', ['-c', `sleep 0.2; echo ${i}`])),
    );
    expect(outs).toEqual(Array.from({ length: 20 }, (_, i) => `${i}\n`));
    const r = await execFileCapture('od', ['-An', '-tu1'], { input });
    expect(r.stdout.trim().split(/\s+/)).toEqual(['0', '1', '2', '255', '10']);
  });

  it('kills a program that outlives its timeout', async () => {
    const r = await execFileCapture('sleep', ['10'], { timeoutMs: 100 });
    expect(r.signal).toBe('SIGKILL');
  });

  it('names a program that cannot be run', async () => {
    await expect(execFile('/nonexistent/program', [])).rejects.toThrow(
      /cannot run \/nonexistent\/program: .*ENOENT/,
    );
  });

  it('fails the calls in flight when the spawner dies, spawns directly meanwhile, then starts a new one', async () => {
    const doomed = await Spawner.start();
    useSpawner(doomed);
    const childPid = () => (doomed as unknown as { child?: { pid: number } }).child?.pid;
    try {
      const inFlight = execFile('sleep', ['5']);
      const pid = childPid()!;
      process.kill(pid, 'SIGKILL');
      await expect(inFlight).rejects.toThrow(/spawner process exited/);
      expect(doomed.alive).toBe(false);
      const direct = (await execFile('sh', ['-c', 'echo $PPID'])).trim();
      expect(Number(direct)).toBe(process.pid);
      await expect.poll(() => doomed.alive, { timeout: 10_000 }).toBe(true);
      expect(childPid()).not.toBe(pid);
      const through = (await execFile('sh', ['-c', 'echo $PPID'])).trim();
      expect(Number(through)).toBe(childPid());
    } finally {
      doomed.stop();
      useSpawner(spawner);
    }
  });

  it('is not started again after stop', async () => {
    const stopped = await Spawner.start();
    stopped.stop();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(stopped.alive).toBe(false);
  });
});
