/**
 * The stop and kill requests a container's signals answer, recorded by containerSignal before it
 * sends them (recordEvent: keyed by the workflow step, so a re-run step records nothing twice).
 * The exit they cause names the request's seq (task-exits.ts).
 */
import type { SignalRequest } from '../workflows/container-types.js';
import { recordEvent, type ActivityContext } from './context.js';

export async function recordSignalRequest(
  ctx: Pick<ActivityContext, 'events'>,
  ref: { namespace: string; id: string },
  request: SignalRequest,
): Promise<void> {
  const { projections } = ctx.events;
  const base = { namespace: ref.namespace };
  if (request.kind === 'stop' && request.timeoutSeconds > 0) {
    const signal = projections.get('containers', ref.namespace, ref.id)?.stopSignal ?? 'SIGTERM';
    await recordEvent(ctx, {
      ...base,
      topic: '/tasks/stop-requested',
      step: 'stop-requested',
      data: { v: 1, containerId: ref.id, signal, timeoutSeconds: request.timeoutSeconds },
    });
    return;
  }
  const outstanding = projections.get('tasks', ref.namespace, ref.id)?.request;
  const reason = {
    stop: 'stop without a grace period',
    remove: 'remove',
    'grace-ended': 'grace period ended',
  }[request.kind];
  await recordEvent(ctx, {
    ...base,
    topic: '/tasks/kill-requested',
    step: request.kind === 'grace-ended' ? 'grace-ended' : 'kill-requested',
    data: {
      v: 1,
      containerId: ref.id,
      signal: 'SIGKILL',
      reason,
      ...(request.kind === 'grace-ended'
        ? {
            afterGraceSeconds: request.timeoutSeconds,
            ...(outstanding ? { request: outstanding.seq } : {}),
          }
        : {}),
    },
  });
}
