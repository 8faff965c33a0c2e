/**
 * Pod-shared PID namespaces: the holder process, pinning, joining, reaping, release (which ends
 * every process in the namespace), and recovery from the pieces a crash can leave.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRunning, procStat } from '../../src/common/proc.js';
import { isMountPoint } from '../../src/sandbox/mounts.js';
import { NamespacePinner } from '../../src/sandbox/namespaces.js';

let root: string;
let pinner: NamespacePinner;
const request = { network: 'host', ipc: 'host', pid: 'pod', hostname: 'x' } as const;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'berth-pidns-'));
  pinner = new NamespacePinner(path.join(root, 'state'));
});

afterAll(async () => {
  for (const id of await pinner.pinnedIds()) await pinner.release(id);
  await pinner.dispose();
  await rm(root, { recursive: true, force: true });
});

/** The inode of a process's PID namespace (what the pin file's stat shows too). */
async function pidNsInode(pid: number): Promise<number> {
  return (await stat(`/proc/${pid}/ns/pid`)).ino;
}

/** The holder's host pid, from its record. */
async function holderPid(id: string): Promise<number> {
  const rec = JSON.parse(await readFile(path.join(root, 'state', 'ns', 'pid-holders', id), 'utf8')) as {
    pid: number;
  };
  return rec.pid;
}

/** Starts `argv` inside the pinned PID namespace (nsenter forks after joining: it stays outside, its child is a member). */
function joinPidNs(pin: string, argv: string[]): { done: Promise<number | null> } {
  const child = spawn('nsenter', [`--pid=${pin}`, ...argv], { stdio: 'ignore' });
  return { done: new Promise((resolve) => child.on('close', resolve)) };
}

/** Host pids of the processes in the namespace of `pin`. */
async function members(pin: string): Promise<number[]> {
  const ino = (await stat(pin)).ino;
  const out: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const s = await stat(`/proc/${e}/ns/pid`).catch(() => undefined);
    if (s?.ino === ino) out.push(Number(e));
  }
  return out;
}

async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('pod-shared PID namespace', () => {
  it('is pinned with a holder as its PID 1; processes joining it share it; pin is idempotent', async () => {
    const pins = await pinner.pin('shared', request);
    expect(pins).toEqual({ pid: path.join(root, 'state', 'ns', 'pid', 'shared') });
    expect(await isMountPoint(pins.pid!)).toBe(true);
    const holder = await holderPid('shared');
    expect(isRunning(holder)).toBe(true);
    expect((await readFile(`/proc/${holder}/cmdline`, 'utf8')).replace(/\0/g, ' ').trim()).toBe(
      `berth-pid-holder ${pins.pid}`,
    );
    // Inside its namespace the holder is PID 1.
    expect((await readFile(`/proc/${holder}/status`, 'utf8')).match(/^NSpid:\s+\d+\s+(\d+)$/m)?.[1]).toBe(
      '1',
    );
    expect((await stat(pins.pid!)).ino).toBe(await pidNsInode(holder));
    const sleeper = joinPidNs(pins.pid!, ['sleep', '30']);
    await until(async () => (await members(pins.pid!)).length >= 2, 'the sleeper to join');
    expect(await pinner.pin('shared', request)).toEqual(pins);
    expect(await holderPid('shared')).toBe(holder);
    await pinner.release('shared');
    await sleeper.done;
  });

  it('the holder reaps orphans: no zombie is left in the namespace', async () => {
    const { pid: pin } = await pinner.pin('reaper', request);
    // The shell exits at once, orphaning its background sleep to PID 1, which must reap it.
    await joinPidNs(pin!, ['sh', '-c', 'sleep 0.2 & exit 0']).done;
    await until(async () => (await members(pin!)).length === 1, 'the orphan to exit');
    const states = (await members(pin!)).map((p) => procStat(p)?.state);
    expect(states).toEqual(['S']);
    await pinner.release('reaper');
  });

  it('release kills every process in the namespace and removes the pin; releasing again succeeds', async () => {
    const { pid: pin } = await pinner.pin('release', request);
    const holder = await holderPid('release');
    const a = joinPidNs(pin!, ['sleep', '300']);
    const b = joinPidNs(pin!, ['sh', '-c', 'trap "" TERM; sleep 300']);
    await until(async () => (await members(pin!)).length >= 3, 'both to join');
    const inside = await members(pin!);
    await pinner.release('release');
    await Promise.all([a.done, b.done]);
    await until(async () => inside.every((p) => !isRunning(p)), 'the namespace to empty');
    expect(isRunning(holder)).toBe(false);
    expect(await stat(pin!).catch(() => undefined)).toBeUndefined();
    expect(await pinner.pinnedIds()).not.toContain('release');
    await pinner.release('release');
  });

  it('a holder that died is replaced on the next pin; one with no record is still found and killed', async () => {
    const { pid: pin } = await pinner.pin('crashy', request);
    const first = await holderPid('crashy');
    process.kill(first, 'SIGKILL');
    await until(async () => !isRunning(first), 'the holder to die');
    expect((await pinner.pin('crashy', request)).pid).toBe(pin);
    const second = await holderPid('crashy');
    expect(second).not.toBe(first);
    expect(isRunning(second)).toBe(true);
    // A crash between starting the holder and recording it: only its command line names it.
    await rm(path.join(root, 'state', 'ns', 'pid-holders', 'crashy'));
    expect(await pinner.pinnedIds()).toContain('crashy');
    await pinner.release('crashy');
    await until(async () => !isRunning(second), 'the unrecorded holder to be killed');
    expect(await pinner.pinnedIds()).not.toContain('crashy');
  });

  it('a pod without a shared PID namespace starts no holder', async () => {
    const pins = await pinner.pin('plain', { ...request, pid: 'container' });
    expect(pins).toEqual({});
    expect(await pinner.pinnedIds()).not.toContain('plain');
  });
});
