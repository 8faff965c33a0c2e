// Sandbox runs for record-histories.mjs: createSandbox, stopSandbox and removeSandbox of one
// host-network pod (no CNI, so recording touches no host network; the workflow code is the same).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function prepareSandboxHistories(base) {
  const config = {
    metadata: { name: 'record-pod', namespace: 'record', uid: 'record-pod-uid', attempt: 0 },
    linux: { namespaceOptions: { network: 'node' } },
  };
  let id = '';
  return {
    runs: (api) => [
      {
        name: 'sandbox-create',
        workflowId: 'sandbox:default:record-pod-uid:0',
        run: async () => {
          id = (await api.post('/v1/sandboxes', { config })).id;
        },
      },
      {
        name: 'sandbox-stop',
        workflowId: () => `sandbox:${id}:stop`,
        run: () => api.post(`/v1/sandboxes/${id}/stop`),
      },
      {
        name: 'sandbox-remove',
        workflowId: () => `sandbox:${id}:remove`,
        run: () => api.delete(`/v1/sandboxes/${id}`),
      },
    ],
    /** The pin dir `<state>/ns` is a mount point of its own: unmounted before the temp dir goes. */
    stop: async () => {
      try {
        execFileSync('umount', ['-l', join(base, 'state/ns')], { stdio: 'ignore' });
      } catch {
        // not mounted
      }
    },
  };
}
