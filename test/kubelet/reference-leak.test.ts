/**
 * The kubelet suite's leak check clears one known bug of the reference runtime, loudly, and
 * nothing else: containerd's CRI reporting a container as not running while its task stays in the
 * shim, which makes RemoveContainer refuse forever (containerd/containerd#11037). The state is
 * made here on Debian's containerd 1.6 by starting the CRI container's task behind the CRI's back.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContainerdHarness, CRI_NAMESPACE } from '../../bench/containerd/harness.js';
import { buildTinyImage } from '../../bench/containerd/images.js';
import { clearOrphanTask } from './runtimes.js';

let h: ContainerdHarness;
let dir: string;
let podFile: string;
let image: string;
let podId: string;

beforeAll(async () => {
  h = await ContainerdHarness.start({ release: '1.6' });
  dir = await mkdtemp(join(tmpdir(), 'berth-reference-leak-'));
  const tiny = await buildTinyImage(dir);
  await h.importImage(tiny.archivePath, tiny.name, CRI_NAMESPACE);
  podFile = join(dir, 'pod.json');
  await writeFile(
    podFile,
    JSON.stringify({
      metadata: { name: 'leak', namespace: 'default', uid: 'uid-leak', attempt: 0 },
      linux: {},
    }),
  );
  image = tiny.name;
  podId = (await h.crictl(['runp', podFile])).trim();
}, 120_000);

afterAll(async () => {
  await h?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

/** CreateContainer of a sleeping container named `name` (names are unique in a pod). */
async function create(name: string): Promise<string> {
  const file = join(dir, `${name}.json`);
  const config = { metadata: { name }, image: { image }, command: ['sleep', '1000'], linux: {} };
  await writeFile(file, JSON.stringify(config));
  return (await h.crictl(['create', podId, file, podFile])).trim();
}

describe("the kubelet suite's known-leak clearing on the reference", () => {
  it('clears a container the CRI calls created whose task runs, naming the bug; then it is removable', async () => {
    const id = await create('orphan');
    await h.ctr(['tasks', 'start', '--detach', id], CRI_NAMESPACE);
    // The bug's symptom, as kubelet's garbage collection met it.
    await expect(h.crictl(['rm', id])).rejects.toThrow(/cannot delete running task/);

    const bug = await clearOrphanTask(h, id);
    expect(bug).toMatch(/containerd\/containerd#11037: container \w{12} is CONTAINER_CREATED/);
    await h.crictl(['rm', id]);
    expect((await h.crictl(['ps', '-a', '-q'])).trim()).toBe('');
  }, 60_000);

  it('leaves every other container alone: running, created without a task, exited', async () => {
    const running = await create('running');
    await h.crictl(['start', running]);
    const created = await create('created');
    const exited = await create('exited');
    await h.crictl(['start', exited]);
    await h.crictl(['stop', '--timeout', '0', exited]);
    for (const id of [running, created, exited]) expect(await clearOrphanTask(h, id)).toBeUndefined();
    expect((await h.ctr(['tasks', 'ls', '-q'], CRI_NAMESPACE)).split('\n')).toContain(running);
    await h.crictl(['stopp', podId]);
    await h.crictl(['rmp', podId]);
  }, 60_000);
});
