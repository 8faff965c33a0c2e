/**
 * Checkpoints (KEP-2008, CRI CheckpointContainer) against a real berthd's CRI socket, with crictl
 * as kubelet's stand-in and CRIU 4.1 from setup under runc 1.5. A counting container is
 * checkpointed while it runs: the archive holds CRIU's images of its process, Berth's record of it,
 * its spec and its changed files, and the container keeps counting. A container created with the
 * archive as its image is restored by StartContainer: its counter goes on from the checkpoint's
 * value (the shell's memory came back), its changed files are there. What CRIU cannot dump (an
 * established TCP connection) and bad requests (an unknown or stopped container, a location in a
 * missing folder, a folder as location) are refused with the reason,
 * leaving no archive and no staging behind.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { execFileCapture } from '../../../src/common/exec.js';
import { expectStatus, rpc } from '../harness.js';
import { createInPod, criPodSuite } from './pod-suite.js';

const suite = criPodSuite({ name: 'ckpt', namespace: 'ckpt', uid: 'uid-ckpt', attempt: 0 });

// Each value is written beside the file and renamed over it: a read never sees the file
// truncated and not yet written (that read an empty counter as 0 under load).
const COUNTER =
  'echo changed > /etc/berth-note; i=0; while true; do i=$((i+1)); echo $i > /tmp/count.new; mv /tmp/count.new /tmp/count; sleep 0.1; done';

async function runContainer(name: string, script: string): Promise<string> {
  const id = await createInPod(suite, {
    metadata: { name, attempt: 0 },
    image: { image: suite.env.image },
    command: ['sh', '-c', script],
  });
  await rpc((cb) => suite.runtime.StartContainer({ container_id: id }, cb));
  return id;
}

/** The counter as the container last wrote it, read through exec. */
async function count(id: string): Promise<number> {
  const r = await suite.env.crictl(['exec', id, 'cat', '/tmp/count']);
  const n = Number(r.stdout.trim());
  if (!(n > 0)) throw new Error(`the counter read ${JSON.stringify(r.stdout)}, not a count`);
  return n;
}

async function waitFor(what: string, ok: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const checkpoint = (id: string, location: string, timeout = 60) =>
  rpc((cb) => suite.runtime.CheckpointContainer({ container_id: id, location, timeout }, cb));

/** The counter's value in the archive's writable layer: where it was at the checkpoint. */
async function countInArchive(archive: string): Promise<number> {
  const r = await execFileCapture('bash', [
    '-c',
    'tar -xOf "$0" rootfs-diff.tar | tar -xOf - ./tmp/count',
    archive,
  ]);
  return Number(r.stdout.trim());
}

let archive = '';

describe('CheckpointContainer on berthd (CRIU 4.1, runc 1.5)', () => {
  it('writes an archive of a running container with crictl checkpoint, and the container keeps running', async () => {
    const { env } = suite;
    const id = await runContainer('counter', COUNTER);
    // Far enough that a process started afresh could not be there by the first read after a restore.
    await waitFor('the counter to pass 20', async () => (await count(id)) > 20);
    const folder = path.join(env.work, 'checkpoints');
    await mkdir(folder);
    const location = path.join(folder, 'counter.tar');
    const r = await env.crictl(['checkpoint', '--export', location, id], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    archive = location;

    // Only the archive is left in the folder: no staging, no partial archive.
    expect(await readdir(folder)).toEqual(['counter.tar']);
    const listing = (await execFileCapture('tar', ['-tf', location])).stdout.split('\n');
    for (const part of ['config.dump', 'spec.dump', 'rootfs-diff.tar', 'checkpoint/inventory.img'])
      expect(listing, part).toContain(part);
    expect(
      listing.some((f) => /^checkpoint\/pages-\d+\.img$/.test(f)),
      'CRIU memory pages',
    ).toBe(true);
    const config = JSON.parse((await execFileCapture('tar', ['-xOf', location, 'config.dump'])).stdout) as {
      format: string;
      container: { id: string; name: string; image: string };
    };
    expect(config.format).toBe('berth-checkpoint/1');
    expect(config.container).toMatchObject({ id, name: 'counter', image: env.image });
    const spec = JSON.parse((await execFileCapture('tar', ['-xOf', location, 'spec.dump'])).stdout) as {
      process: { args: string[] };
    };
    expect(spec.process.args).toEqual(['sh', '-c', COUNTER]);
    // The writable layer: what the container changed, and nothing of the image.
    const diff = path.join(env.work, 'rootfs-diff.tar');
    await execFileCapture('tar', ['-xf', location, '-C', env.work, 'rootfs-diff.tar']);
    const changed = (await execFileCapture('tar', ['-tf', diff])).stdout.split('\n');
    expect(changed).toContain('./etc/berth-note');
    expect(changed).toContain('./tmp/count');
    expect(changed).not.toContain('./bin/busybox');

    // Still running, still counting.
    const after = await count(id);
    await waitFor('the counter to go on after the checkpoint', async () => (await count(id)) > after + 3);
    const ps = await env.crictl(['ps', '-q', '--state', 'Running', '--id', id]);
    expect(ps.stdout.trim()).toBe(id);
  });

  it('restores the archive into a new container that counts on from where the checkpoint was', async () => {
    const { env } = suite;
    expect(archive, 'the checkpoint test wrote no archive to restore').not.toBe('');
    const atCheckpoint = await countInArchive(archive);
    expect(atCheckpoint).toBeGreaterThan(20);
    const id = await createInPod(suite, {
      metadata: { name: 'restored', attempt: 0 },
      image: { image: archive },
    });
    const before = await env.crictl(['ps', '-a', '-q', '--state', 'Created', '--id', id]);
    expect(before.stdout.trim(), 'created, not yet restored').toBe(id);
    await rpc((cb) => suite.runtime.StartContainer({ container_id: id }, cb));
    // The shell's counter is in the restored memory: it goes on from the checkpoint, not from 1.
    const first = await count(id);
    expect(first).toBeGreaterThanOrEqual(atCheckpoint);
    await waitFor('the restored counter to go on', async () => (await count(id)) > first + 3);
    // The writable layer came along.
    expect((await env.crictl(['exec', id, 'cat', '/etc/berth-note'])).stdout.trim()).toBe('changed');
    const inspect = JSON.parse((await env.crictl(['inspect', id])).stdout) as {
      status: { state: string };
      info: { pid: number };
    };
    expect(inspect.status.state).toBe('CONTAINER_RUNNING');
    expect(inspect.info.pid).toBeGreaterThan(0);
    const stop = await env.crictl(['stop', '-t', '0', id]);
    expect(stop.code, stop.stderr).toBe(0);
    const rm = await env.crictl(['rm', id]);
    expect(rm.code, rm.stderr).toBe(0);
  });

  it('refuses to restore from a file that is no checkpoint archive, creating nothing', async () => {
    const { env } = suite;
    const notArchive = path.join(env.work, 'not-a-checkpoint.tar');
    await writeFile(notArchive, 'hello\n');
    const create = (image: string) =>
      createInPod(suite, { metadata: { name: 'not-restored', attempt: 0 }, image: { image } });
    await expectStatus(
      create(notArchive),
      grpc.status.INVALID_ARGUMENT,
      `image: ${notArchive} is not a checkpoint archive`,
    );
    const missing = path.join(env.work, 'missing.tar');
    await expectStatus(create(missing), grpc.status.INVALID_ARGUMENT, `image: ${missing} is not a file`);
    const all = await env.crictl(['ps', '-a', '--name', 'not-restored', '-q']);
    expect(all.stdout.trim()).toBe('');
  });

  it("refuses what CRIU cannot dump, naming CRIU's reason, and leaves nothing behind", async () => {
    const { env } = suite;
    // Both ends of a TCP connection in the pod's own network namespace.
    const id = await runContainer(
      'tcp',
      'sleep 600 | nc -l -p 7000 & sleep 0.5; sleep 600 | nc 127.0.0.1 7000 & echo connected > /tmp/ready; wait',
    );
    await waitFor('the connection', async () => {
      const r = await env.crictl(['exec', id, 'cat', '/tmp/ready']);
      return r.stdout.includes('connected');
    });
    const folder = path.join(env.work, 'refused');
    await mkdir(folder);
    await expectStatus(
      checkpoint(id, path.join(folder, 'tcp.tar')),
      grpc.status.FAILED_PRECONDITION,
      'CRIU could not dump the container: ',
      'Connected TCP socket',
    );
    expect(await readdir(folder)).toEqual([]);
    // The container was left running.
    const ps = await env.crictl(['ps', '-q', '--state', 'Running', '--id', id]);
    expect(ps.stdout.trim()).toBe(id);
  });

  it('refuses bad requests naming the problem, writing nothing', async () => {
    const { env } = suite;
    const folder = path.join(env.work, 'bad');
    await mkdir(folder);
    await expectStatus(
      checkpoint('f'.repeat(64), path.join(folder, 'x.tar')),
      grpc.status.NOT_FOUND,
      'f'.repeat(64),
    );
    const running = await runContainer('bad-input', 'sleep 600');
    await expectStatus(
      checkpoint(running, path.join(folder, 'missing', 'x.tar')),
      grpc.status.INVALID_ARGUMENT,
      `location: folder ${path.join(folder, 'missing')} does not exist`,
    );
    await expectStatus(
      checkpoint(running, folder),
      grpc.status.INVALID_ARGUMENT,
      `location: ${folder} is a folder`,
    );
    await expectStatus(checkpoint(running, 'relative.tar'), grpc.status.INVALID_ARGUMENT, 'location');
    const exited = await runContainer('exited', 'true');
    await waitFor('the container to exit', async () => {
      const r = await env.crictl(['ps', '-a', '-q', '--state', 'Exited', '--id', exited]);
      return r.stdout.trim() === exited;
    });
    await expectStatus(
      checkpoint(exited, path.join(folder, 'x.tar')),
      grpc.status.FAILED_PRECONDITION,
      `container ${exited} is exited, not running`,
    );
    expect(await readdir(folder)).toEqual([]);
  });
});
