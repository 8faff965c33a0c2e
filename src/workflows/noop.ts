/**
 * noop — one trivial activity, run either as a normal or a local activity. It measures what
 * Temporal itself adds to a transition (bench/temporal/overhead.ts), nothing else.
 */
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { LOCAL_STEP, SHORT_STEP } from './conventions.js';

const remote = proxyActivities<Activities>(SHORT_STEP);
const local = proxyLocalActivities<Activities>(LOCAL_STEP);

export async function noopTransition(useLocalActivity: boolean): Promise<string> {
  return useLocalActivity ? local.noop() : remote.noop();
}
