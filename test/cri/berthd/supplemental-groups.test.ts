/**
 * Supplemental groups policy (KEP-3619) against a real berthd's CRI socket, as the e2e spec checks
 * it: uid 1000 of the test image is listed in group 2000 of its /etc/group; the pod adds group
 * 60000. With Merge (the default) the process holds 1000 2000 60000, with Strict 1000 60000, in the
 * container's first process and in an exec alike, and ContainerStatus.user says the same.
 * RuntimeFeatures advertises the policy.
 */
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { ContainerStatusResponse__Output } from '../../../src/cri/generated/runtime/v1/ContainerStatusResponse.js';
import type { StatusResponse__Output } from '../../../src/cri/generated/runtime/v1/StatusResponse.js';
import type { SupplementalGroupsPolicy } from '../../../src/cri/generated/runtime/v1/SupplementalGroupsPolicy.js';
import { expectStatus, rpc } from '../harness.js';
import { createInPod, criPodSuite } from './pod-suite.js';

const suite = criPodSuite({ name: 'groups', namespace: 'groups', uid: 'uid-groups', attempt: 0 });

/** Runs `id -G` as uid 1000 with group 60000 added under `policy`; returns the started container. */
async function startWithPolicy(name: string, policy?: SupplementalGroupsPolicy): Promise<string> {
  const security_context = {
    run_as_user: { value: 1000 },
    supplemental_groups: [60000],
    ...(policy !== undefined ? { supplemental_groups_policy: policy } : {}),
  };
  const id = await createInPod(suite, {
    metadata: { name, attempt: 0 },
    image: { image: suite.env.image },
    command: ['sh', '-c', 'id -G; sleep 600'],
    linux: { security_context },
  });
  await rpc((cb) => suite.runtime.StartContainer({ container_id: id }, cb));
  return id;
}

async function groupsSeen(id: string): Promise<{ first: string; exec: string; reported: unknown }> {
  const deadline = Date.now() + 30_000;
  let first = '';
  while (!(first = (await suite.env.crictl(['logs', id])).stdout.trim())) {
    if (Date.now() > deadline) throw new Error(`container ${id} printed nothing`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const exec = await suite.env.crictl(['exec', id, 'id', '-G']);
  expect(exec.code, exec.stderr).toBe(0);
  const status = await rpc<ContainerStatusResponse__Output>((cb) =>
    suite.runtime.ContainerStatus({ container_id: id }, cb),
  );
  const user = status.status!.user?.linux;
  return {
    first,
    exec: exec.stdout.trim(),
    reported: user && {
      uid: Number(user.uid),
      gid: Number(user.gid),
      groups: user.supplemental_groups.map(Number),
    },
  };
}

describe('supplemental groups policy through the CRI', () => {
  it('RuntimeFeatures advertises it', async () => {
    const status = await rpc<StatusResponse__Output>((cb) => suite.runtime.Status({}, cb));
    expect(status.features?.supplemental_groups_policy).toBe(true);
  });

  it("Merge (and no policy at all): the image's groups of the user, then the pod's", async () => {
    for (const [name, policy] of [
      ['merge', 'Merge'],
      ['unset', undefined],
    ] as const) {
      const seen = await groupsSeen(await startWithPolicy(name, policy));
      expect(seen, name).toEqual({
        first: '1000 2000 60000',
        exec: '1000 2000 60000',
        reported: { uid: 1000, gid: 1000, groups: [1000, 2000, 60000] },
      });
    }
  });

  it("Strict: the pod's groups only", async () => {
    const seen = await groupsSeen(await startWithPolicy('strict', 'Strict'));
    expect(seen).toEqual({
      first: '1000 60000',
      exec: '1000 60000',
      reported: { uid: 1000, gid: 1000, groups: [1000, 60000] },
    });
  });

  it('a policy the CRI does not define is INVALID_ARGUMENT naming the field', async () => {
    await expectStatus(
      createInPod(suite, {
        metadata: { name: 'bad-policy', attempt: 0 },
        image: { image: suite.env.image },
        linux: { security_context: { supplemental_groups_policy: 7 as SupplementalGroupsPolicy } },
      }),
      grpc.status.INVALID_ARGUMENT,
      'supplemental_groups_policy',
    );
  });
});
