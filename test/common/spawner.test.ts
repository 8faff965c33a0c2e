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

  it('fails the calls in flight when the spawner dies, then spawns directly', async () => {
    const doomed = await Spawner.start();
    useSpawner(doomed);
    try {
      const inFlight = execFile('sleep', ['5']);
      const pid = (doomed as unknown as { child: { pid: number } }).child.pid;
      process.kill(pid, 'SIGKILL');
      await expect(inFlight).rejects.toThrow(/spawner process exited/);
      expect(doomed.alive).toBe(false);
      expect(await execFile('echo', ['direct'])).toBe('direct\n');
    } finally {
      useSpawner(spawner);
    }
  });
});
