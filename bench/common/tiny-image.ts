/**
 * The benches' tiny busybox image (test/containers/support.ts's files), built under `dir` and pushed
 * to a loopback registry as `bench/tiny:1`; returns the reference every runtime pulls.
 */
import path from 'node:path';
import { tinyImageFiles } from '../../test/containers/support.js';
import { writeOciLayout } from '../../test/helpers/oci-images.js';
import type { TestRegistry } from '../../test/helpers/registry.js';

export async function pushTinyImage(reg: TestRegistry, dir: string): Promise<string> {
  const layout = path.join(dir, 'tiny-layout');
  await writeOciLayout(layout, 'tiny', { layers: [{ files: await tinyImageFiles() }], cmd: ['/bin/sh'] });
  await reg.push(layout, 'tiny', 'bench/tiny', { destTag: '1' });
  return `${reg.host}/bench/tiny:1`;
}
