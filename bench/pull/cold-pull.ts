/**
 * Cold pull benchmark: a multi-layer image of ~100 MB and a tiny one, served by a real
 * docker-registry on loopback, pulled into an empty content store by Berth's Puller, and
 * copied by `skopeo copy docker://… oci:…` as a reference client on the same registry in
 * the same run. Containerd's `ctr` is used too when it is installed.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/pull/cold-pull.js [runs]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { execFile, execFileCapture } from '../../src/common/exec.js';
import { FsContentStore } from '../../src/content/index.js';
import { Puller, RegistryClient } from '../../src/registry/index.js';
import { randomBytesSeeded, writeOciLayout } from '../../test/helpers/oci-images.js';
import { startRegistry } from '../../test/helpers/registry.js';

const runs = Number(process.argv[2] ?? 5);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function time(fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

async function main(): Promise<void> {
  const work = await mkdtemp(path.join(tmpdir(), 'berth-bench-pull-'));
  const reg = await startRegistry();
  try {
    const layout = path.join(work, 'layout');
    const layers = Array.from({ length: 5 }, (_, i) => ({
      files: [{ path: `data/${i}`, content: randomBytesSeeded(20 * 1024 * 1024, i) }],
    }));
    const large = await writeOciLayout(layout, 'large', { layers });
    const tiny = await writeOciLayout(layout, 'tiny', {
      layers: [{ files: [{ path: 'hello', content: 'hi\n' }] }],
    });
    await reg.push(layout, 'large', 'bench/large');
    await reg.push(layout, 'tiny', 'bench/tiny');
    const hasCtr = (await execFileCapture('sh', ['-c', 'command -v ctr'])).code === 0;

    const rows: string[][] = [];
    for (const [name, built] of [
      ['large', large],
      ['tiny', tiny],
    ] as const) {
      const bytes = built.images[0]!.layers.reduce((n, l) => n + l.size, 0);
      const ref = `${reg.host}/bench/${name}:${name}`;
      const berth: number[] = [];
      const skopeo: number[] = [];
      for (let i = 0; i < runs; i++) {
        const root = await mkdtemp(path.join(work, 'root-'));
        const client = new RegistryClient({ config: { hosts: { [reg.host]: { plainHttp: true } } } });
        berth.push(
          await time(
            async () => void (await new Puller({ client, store: new FsContentStore(root) }).pull(ref)),
          ),
        );
        await client.close();
        const dest = path.join(root, 'skopeo');
        skopeo.push(
          await time(async () => {
            await execFile('skopeo', [
              '--insecure-policy',
              'copy',
              '--quiet',
              '--src-tls-verify=false',
              `docker://${ref}`,
              `oci:${dest}:x`,
            ]);
          }),
        );
        await rm(root, { recursive: true, force: true });
      }
      const b = median(berth);
      const s = median(skopeo);
      rows.push([name, (bytes / 1e6).toFixed(1), b.toFixed(1), s.toFixed(1), (b / s).toFixed(2)]);
    }
    const header = ['image', 'MB (compressed)', 'berth pull ms', 'skopeo copy ms', 'berth/skopeo'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
    const line = (r: string[]): string => r.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
    console.log(
      `cold pull from docker-registry on loopback, median of ${runs} runs (pull = download + verify into the content store, no unpack)`,
    );
    console.log(line(header));
    for (const r of rows) console.log(line(r));
    if (!hasCtr)
      console.log('containerd/ctr is not installed on this machine: no ctr comparison in this run.');
  } finally {
    await reg.stop();
    await rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
