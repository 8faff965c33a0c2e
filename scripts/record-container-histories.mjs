// The container part of record-histories.mjs: a registry with a busybox image (containers need a
// real rootfs), added to the registry config berthd reads, and the runs of createContainer,
// startContainer, stopContainer and removeContainer on one container.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRegistry } from '../dist/test/helpers/registry.js';
import { writeOciLayout } from '../dist/test/helpers/oci-images.js';
import { tinyImageFiles } from '../dist/test/containers/support.js';

/**
 * `registries` is the registry config file berthd will read; this registry's host is merged into
 * it, so call this after anything that writes the file whole.
 */
export async function prepareContainerHistories(base, registries) {
  const registry = await startRegistry();
  const layout = join(base, 'container-layout');
  await writeOciLayout(layout, 'tiny', { layers: [{ files: await tinyImageFiles() }], cmd: ['/bin/sh'] });
  await registry.push(layout, 'tiny', 'record/busybox', { destTag: 'latest' });
  const config = JSON.parse(await readFile(registries, 'utf8').catch(() => '{"hosts":{}}'));
  config.hosts = { ...config.hosts, [registry.host]: { plainHttp: true } };
  await writeFile(registries, JSON.stringify(config));
  // berthd finds the registry config through BERTH_CONFIG (record-image-histories may have set it).
  if (!process.env.BERTH_CONFIG) {
    const daemonConfig = join(base, 'berthd.json');
    await writeFile(daemonConfig, JSON.stringify({ 'registry-config': registries }));
    process.env.BERTH_CONFIG = daemonConfig;
  }
  const image = `${registry.host}/record/busybox:latest`;
  let container;
  return {
    image,
    runs: (api) => [
      {
        name: 'container-create',
        workflowId: 'container:default:record:0',
        run: async () => {
          container = await api.post('/v1/containers', {
            name: 'record',
            image,
            pull: true,
            // Handles SIGTERM, so stop's history has the exit signal beating the grace timer.
            command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.1; done'],
          });
        },
      },
      {
        name: 'container-start',
        workflowId: () => `container:${container.id}:start`,
        run: () => api.post(`/v1/containers/${container.id}/start`),
      },
      {
        name: 'container-stop',
        workflowId: () => `container:${container.id}:stop`,
        run: () => api.post(`/v1/containers/${container.id}/stop`, { timeout: 30 }),
      },
      {
        name: 'container-remove',
        workflowId: () => `container:${container.id}:remove`,
        run: () => api.delete(`/v1/containers/${container.id}`),
      },
    ],
    stop: () => registry.stop(),
  };
}
