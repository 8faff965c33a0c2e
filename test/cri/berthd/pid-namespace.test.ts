/**
 * A pod that shares one PID namespace (pid mode POD), through crictl against a real berthd: its
 * containers see each other's processes and the holder as PID 1; a container with its own PID
 * namespace in the same pod sees neither; removing the pod ends the holder. A container asking to
 * share a PID namespace its pod does not have is refused, with nothing created.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCriEnv, type CriEnv } from './env.js';

const POD = 0;
const CONTAINER = 1;

let env: CriEnv;
/** Pods not yet removed, for afterAll when a test fails half-way. */
const pods = new Set<string>();

async function ok(args: string[]): Promise<string> {
  const r = await env.crictl(args);
  expect(r.code, `crictl ${args.join(' ')} failed:\n${r.stderr}`).toBe(0);
  return r.stdout.trim();
}

async function json(name: string, body: unknown): Promise<string> {
  const file = path.join(env.work, `${name}.json`);
  await writeFile(file, JSON.stringify(body));
  return file;
}

function podConfig(name: string, pid: number): unknown {
  return {
    metadata: { name, namespace: 'pidns', uid: `uid-${name}`, attempt: 0 },
    hostname: name,
    linux: { security_context: { namespace_options: { pid } } },
  };
}

function containerConfig(name: string, command: string[], pid: number): unknown {
  return {
    metadata: { name },
    image: { image: env.image },
    command,
    linux: { security_context: { namespace_options: { pid } } },
  };
}

/** Command lines of the processes a container sees (NULs shown as spaces). */
async function seenFrom(containerId: string): Promise<string[]> {
  const out = await ok([
    'exec',
    '-s',
    containerId,
    'sh',
    '-c',
    'for p in /proc/[0-9]*; do cat $p/cmdline; echo; done',
  ]);
  return out
    .split('\n')
    .map((l) => l.replace(/\0/g, ' ').trim())
    .filter((l) => l !== '');
}

async function holders(): Promise<string[]> {
  const found: string[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    if (cmd.startsWith('berth-pid-holder') && cmd.includes(env.berthd.state)) found.push(e);
  }
  return found;
}

beforeAll(async () => {
  env = await startCriEnv();
  await ok(['pull', env.image]);
}, 180_000);

afterAll(async () => {
  if (!env) return;
  for (const id of pods) {
    await env.crictl(['stopp', id]);
    await env.crictl(['rmp', '-f', id]);
  }
  await env.cleanup();
}, 120_000);

describe('pid mode POD through the CRI', () => {
  it('containers of the pod share one PID namespace with the holder as PID 1; a CONTAINER-mode one does not', async () => {
    const pod = await json('shared-pod', podConfig('shared', POD));
    const podId = await ok(['runp', pod]);
    pods.add(podId);
    const [a, b, own] = [
      await ok(['create', podId, await json('a', containerConfig('a', ['sleep', '1001'], POD)), pod]),
      await ok(['create', podId, await json('b', containerConfig('b', ['sleep', '1002'], POD)), pod]),
      await ok([
        'create',
        podId,
        await json('own', containerConfig('own', ['sleep', '1003'], CONTAINER)),
        pod,
      ]),
    ];
    for (const id of [a, b, own]) await ok(['start', id]);
    expect(await holders()).toHaveLength(1);

    const fromB = await seenFrom(b);
    expect(fromB.some((c) => c.startsWith('berth-pid-holder'))).toBe(true);
    expect(fromB).toContain('sleep 1001');
    expect(fromB).toContain('sleep 1002');
    expect(fromB).not.toContain('sleep 1003');
    expect(await ok(['exec', '-s', a, 'cat', '/proc/1/cmdline'])).toMatch(/^berth-pid-holder/);

    const fromOwn = await seenFrom(own);
    expect(fromOwn).toContain('sleep 1003');
    expect(fromOwn).not.toContain('sleep 1001');
    expect(await ok(['exec', '-s', own, 'cat', '/proc/1/cmdline'])).toBe('sleep\u00001003\u0000');

    await ok(['stopp', podId]);
    await ok(['rmp', podId]);
    pods.delete(podId);
    expect(await holders()).toEqual([]);
  });

  it('a container asking for its pod PID namespace in a pod without one is refused, naming why', async () => {
    const pod = await json('plain-pod', podConfig('plain', CONTAINER));
    const podId = await ok(['runp', pod]);
    pods.add(podId);
    expect(await holders()).toEqual([]);
    const r = await env.crictl([
      'create',
      podId,
      await json('c', containerConfig('c', ['sleep', '1'], POD)),
      pod,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/has no shared PID namespace: its pid mode is not POD/);
    expect(await ok(['ps', '-a', '-q', '-p', podId])).toBe('');
    await ok(['stopp', podId]);
    await ok(['rmp', podId]);
    pods.delete(podId);
  });
});
