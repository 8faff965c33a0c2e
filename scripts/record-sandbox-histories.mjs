// Sandbox runs for record-histories.mjs: createSandbox, stopSandbox and removeSandbox of one
// host-network pod (no CNI, so recording touches no host network; the workflow code is the same),
// and removeSandbox of a pod with an exited container (`image`, from the container recorder).
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

export function prepareSandboxHistories(base, image) {
  const config = {
    metadata: { name: 'record-pod', namespace: 'record', uid: 'record-pod-uid', attempt: 0 },
    linux: { namespaceOptions: { network: 'node' } },
  };
  const podWithApp = {
    ...config,
    metadata: { name: 'record-pod-app', namespace: 'record', uid: 'record-pod-app-uid', attempt: 0 },
  };
  let id = '';
  let appPod = '';
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
      {
        // A pod whose container has exited: its removal takes the container with it (podRemove).
        name: 'sandbox-remove-with-containers',
        workflowId: () => `sandbox:${appPod}:remove`,
        run: async () => {
          appPod = (await api.post('/v1/sandboxes', { config: podWithApp })).id;
          const app = await api.post('/v1/containers', {
            name: 'record-app',
            image,
            sandboxId: appPod,
            command: ['true'],
          });
          await api.post(`/v1/containers/${app.id}/start`);
          for (let i = 0; (await api.get(`/v1/containers/${app.id}`)).state !== 'exited'; i++) {
            if (i > 200) throw new Error("the recorded pod's container did not exit");
            await new Promise((r) => setTimeout(r, 50));
          }
          await api.delete(`/v1/sandboxes/${appPod}`);
        },
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
