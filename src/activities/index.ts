/** All activities berthd's worker registers, built over the subsystems it was given. */
import { withErrorConventions } from './conventions.js';
import { createDemoActivities, type DemoActivityDeps } from './demo.js';
import { createNodeInfoActivities, type NodeInfoActivityDeps } from './node-info.js';

export type ActivityDeps = NodeInfoActivityDeps & DemoActivityDeps;

export function createActivities(deps: ActivityDeps) {
  return withErrorConventions({
    ...createNodeInfoActivities(deps),
    ...createDemoActivities(deps),
    /** Does nothing: the activity of the noop transition, which measures Temporal's own cost. */
    async noop(): Promise<string> {
      return 'ok';
    },
  });
}

/** The activity interface workflows import as a type only. */
export type Activities = ReturnType<typeof createActivities>;
