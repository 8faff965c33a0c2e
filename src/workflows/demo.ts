/**
 * demo — a three-step transition with compensation, used to prove the backbone (joining, retries,
 * compensation, crash recovery at every step boundary). Each step leaves a mark an operator can
 * see under <root>/demo/<id>/; a failure at a later step undoes the earlier ones.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { SHORT_STEP } from './conventions.js';
import { withCompensation } from './saga.js';

const { demoReserve, demoWrite, demoPublish, demoUndo } = proxyActivities<Activities>(SHORT_STEP);

export interface DemoRequest {
  id: string;
  /** A step whose activity must refuse its input, to exercise non-retryable failures and compensation. */
  refuseAt?: 'reserve' | 'write' | 'publish';
}

export interface DemoResult {
  id: string;
  steps: string[];
}

export async function demoTransition(req: DemoRequest): Promise<DemoResult> {
  return withCompensation(async (saga) => {
    await demoReserve(req.id, req.refuseAt === 'reserve');
    saga.onFailureUndo('reserve', () => demoUndo(req.id, 'reserve'));
    await demoWrite(req.id, req.refuseAt === 'write');
    saga.onFailureUndo('write', () => demoUndo(req.id, 'write'));
    await demoPublish(req.id, req.refuseAt === 'publish');
    return { id: req.id, steps: ['reserve', 'write', 'publish'] };
  });
}
