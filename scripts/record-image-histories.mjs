// The image part of record-histories.mjs: a real registry with one tiny image, a registry config
// berthd reads through BERTH_CONFIG, and the runs of pullImage, tagImage and removeImage.
import { execFileSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startRegistry } from '../dist/test/helpers/registry.js';
import { writeOciLayout } from '../dist/test/helpers/oci-images.js';

export async function prepareImageHistories(base) {
  const registry = await startRegistry();
  const layout = join(base, 'image-layout');
  await writeOciLayout(layout, 'tiny', { layers: [{ files: [{ path: 'hello', content: 'hello\n' }] }] });
  await registry.push(layout, 'tiny', 'record/tiny');
  const archive = join(base, 'tiny.tar');
  execFileSync('tar', ['-C', layout, '-cf', archive, '.']);
  const registries = join(base, 'registries.json');
  await writeFile(registries, JSON.stringify({ hosts: { [registry.host]: { plainHttp: true } } }));
  const config = join(base, 'berthd.json');
  await writeFile(config, JSON.stringify({ 'registry-config': registries }));
  process.env.BERTH_CONFIG = config;
  const name = `${registry.host}/record/tiny:tiny`;
  const tagged = `${registry.host}/record/tiny:tagged`;
  const enc = encodeURIComponent;
  return {
    runs: (api) => [
      {
        name: 'pull-image',
        workflowId: `pull:default:${name}`,
        run: async () => {
          for await (const item of api.postStream('/v1/images/pull', { ref: name })) void item;
        },
      },
      {
        name: 'tag-image',
        workflowId: `image-tag:default:${tagged}`,
        run: () => api.post(`/v1/images/${enc(name)}/tag`, { target: tagged }),
      },
      {
        name: 'import-image',
        workflowId: `image-import:default:${archive}`,
        run: () => api.post('/v1/images/import', { path: archive, name: 'example.com/record/imported:1' }),
      },
      {
        name: 'remove-image',
        workflowId: `image-remove:default:${tagged}`,
        run: () => api.delete(`/v1/images/${enc(tagged)}`),
      },
    ],
    stop: () => registry.stop(),
  };
}
