/**
 * Activities that act on a whole pod: its sandbox's steps and its containers' steps in one local
 * activity, composed from the two factories (each part keeps its own idempotence and events).
 */
import type { RemoveSandboxRequest } from '../workflows/sandboxes.js';
import { runAsStep } from './context.js';
import type { createContainerActivities } from './containers.js';
import type { createSandboxActivities } from './sandboxes.js';

export function createPodActivities(
  root: string,
  sandboxes: Pick<ReturnType<typeof createSandboxActivities>, 'sandboxRemove'>,
  containers: Pick<ReturnType<typeof createContainerActivities>, 'containerTearDown'>,
) {
  return {
    /**
     * The pod's exited containers (task, rootfs, record: at once, each under step names ending in
     * `:<id>`), then the sandbox (sandboxRemove). A retry redoes only what is missing.
     */
    async podRemove(req: Omit<RemoveSandboxRequest, 'exitedContainers'> & { containers: string[] }) {
      const ref = { namespace: req.namespace, id: req.id };
      await Promise.all(
        req.containers.map((id) =>
          containers.containerTearDown({ namespace: req.namespace, id, stepSuffix: `:${id}` }),
        ),
      );
      await runAsStep(root, 'sandboxRemove', () => sandboxes.sandboxRemove(ref));
    },
  };
}
