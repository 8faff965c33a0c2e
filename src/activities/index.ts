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
import { createSandboxActivities } from './sandboxes.js';

export function createActivities(ctx: ActivityContext) {
  return withErrorConventions({
    ...createNodeInfoActivities(ctx.config),
    ...createDemoActivities(ctx),
    ...createImageActivities(ctx),
    ...createSandboxActivities(ctx),
    ...createContainerActivities(ctx),
    /** Does nothing: the activity of the noop transition, which measures Temporal's own cost. */
    async noop(): Promise<string> {
      return 'ok';
    },
  });
}

/** The activity interface workflows import as a type only. */
export type Activities = ReturnType<typeof createActivities>;
