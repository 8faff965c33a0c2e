/** All activities berthd's worker registers, built over the subsystems it was given. */
import { createNodeInfoActivities, type NodeInfoActivityDeps } from './node-info.js';

export type ActivityDeps = NodeInfoActivityDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createNodeInfoActivities(deps),
  };
}

/** The activity interface workflows import as a type only. */
export type Activities = ReturnType<typeof createActivities>;
