/**
 * All activities berthd's worker registers, built over the node's subsystems. Each area adds its
 * factory here; workflows import the resulting type only (`import type { Activities }`).
 */
import type { ActivityContext } from './context.js';
import { createContainerActivities } from './containers.js';
import { withErrorConventions } from './conventions.js';
import { createDemoActivities } from './demo.js';
import { createImageActivities } from './images.js';
import { createNodeInfoActivities } from './node-info.js';
import { createPodActivities } from './pods.js';
import { createSandboxActivities } from './sandboxes.js';

export function createActivities(ctx: ActivityContext) {
  const sandboxes = createSandboxActivities(ctx);
  const containers = createContainerActivities(ctx);
  return withErrorConventions({
    ...createNodeInfoActivities(ctx.config),
    ...createDemoActivities(ctx),
    ...createImageActivities(ctx),
    ...sandboxes,
    ...containers,
    ...createPodActivities(ctx.layout.root, sandboxes, containers),
    /** Does nothing: the activity of the noop transition, which measures Temporal's own cost. */
    async noop(): Promise<string> {
      return 'ok';
    },
  });
}

/** The activity interface workflows import as a type only. */
export type Activities = ReturnType<typeof createActivities>;
