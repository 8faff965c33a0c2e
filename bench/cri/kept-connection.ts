/**
 * CRI calls as kubelet makes them: one gRPC client per runtime (@grpc/grpc-js, the same library
 * and proto on both sides) over a connection kept open, so each figure is the runtime's answer
 * and not a client process's start (crictl's, about 55 ms here, dominates one-shot calls).
 * Measured with 1 and with `--pods` pods of one sleeping container each (each a writable layer),
 * made through crictl on every side: ImageFsInfo (kubelet asks every few seconds), Version (the
 * server's floor for a call), ListContainers and ListPodSandbox. Calls alternate between the
 * runtimes one by one; both roots are on one fresh ext4 (scratch-fs.ts).
 *
 * Then ImageFsInfo as the issue measured it, through crictl (a process per call, its start-up
 * included), `--crictl-calls` times per runtime, alternated call by call.
 *
 * Usage: node dist/bench/cri/kept-connection.js [--calls 200] [--pods 50] [--crictl-calls 40]
 *   [--only berth,containerd-2.x,containerd-1.6]
 */
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { execFile } from '../../src/common/exec.js';
import { loadCriProto } from '../../src/cri/proto.js';
import { startRegistry } from '../../test/helpers/registry.js';
import { registryConfigArgs } from '../../test/images/support.js';
import { startBenchBerthd, stopBenchBerthd } from '../common/berthd.js';
import { ScratchFs } from '../common/scratch-fs.js';
import { makeSleepingPod, writeSleepingContainer } from '../common/sleeping-pods.js';
import { pushTinyImage } from '../common/tiny-image.js';
import { ContainerdHarness, CRICTL } from '../containerd/harness.js';
import type { ContainerdRelease } from '../containerd/config.js';
import { printTable, summarize } from '../stats.js';

const { values: opts } = parseArgs({
  options: {
    calls: { type: 'string', default: '200' },
    pods: { type: 'string', default: '50' },
    only: { type: 'string', default: 'berth,containerd-2.x,containerd-1.6' },
    'crictl-calls': { type: 'string', default: '40' },
  },
});
const CALLS = Number(opts.calls);
const CRICTL_CALLS = Number(opts['crictl-calls']);
const PODS = Number(opts.pods);

type Rpc = 'imageFsInfo' | 'version' | 'listContainers' | 'listPodSandbox';
const RPCS: Rpc[] = ['imageFsInfo', 'version', 'listContainers', 'listPodSandbox'];

interface Side {
  name: string;
  /** `unix://…` */
  endpoint: string;
  call(rpc: Rpc): Promise<number>;
  close(): void;
  stop(): Promise<void>;
}

/** A kept connection to one runtime's CRI socket; `call` resolves with the call's milliseconds. */
function clientFor(endpoint: string): Pick<Side, 'call' | 'close'> {
  const proto = loadCriProto();
  const address = endpoint.replace('unix://', 'unix:');
  const images = new proto.runtime.v1.ImageService(address, grpc.credentials.createInsecure());
  const runtime = new proto.runtime.v1.RuntimeService(address, grpc.credentials.createInsecure());
  const invoke = (rpc: Rpc, done: (err: grpc.ServiceError | null) => void): void => {
    if (rpc === 'imageFsInfo') images.imageFsInfo({}, done);
    else if (rpc === 'version') runtime.version({}, done);
    else if (rpc === 'listContainers') runtime.listContainers({}, done);
    else runtime.listPodSandbox({}, done);
  };
  return {
    call: (rpc) =>
      new Promise((resolve, reject) => {
        const t0 = performance.now();
        invoke(rpc, (err) => (err ? reject(err) : resolve(performance.now() - t0)));
      }),
    close: () => {
      images.close();
      runtime.close();
    },
  };
}

async function main(): Promise<void> {
  const fs = await ScratchFs.create();
  const reg = await startRegistry();
  const sides: Side[] = [];
  try {
    const image = await pushTinyImage(reg, fs.dir);
    const container = await writeSleepingContainer(fs.dir, image);
    for (const name of opts.only.split(',')) {
      if (name === 'berth') {
        const dir = await mkdtemp(path.join(fs.dir, 'berth-'));
        const b = await startBenchBerthd(dir, await registryConfigArgs(dir, [reg.host]));
        sides.push({
          name,
          endpoint: b.criEndpoint,
          ...clientFor(b.criEndpoint),
          stop: () => stopBenchBerthd(b),
        });
      } else if (name === 'containerd-2.x' || name === 'containerd-1.6') {
        const cd = await ContainerdHarness.start({
          release: name.slice('containerd-'.length) as ContainerdRelease,
          parentDir: fs.dir,
          registryMirrors: { [reg.host]: `http://${reg.host}` },
        });
        const endpoint = `unix://${cd.socket}`;
        sides.push({ name, endpoint, ...clientFor(endpoint), stop: () => cd.stop() });
      } else throw new Error(`--only: no runtime "${name}" (berth, containerd-2.x, containerd-1.6)`);
    }
    const crictl = async (side: Side, args: string[]) =>
      (
        await execFile(CRICTL, ['-r', side.endpoint, '-i', side.endpoint, '--timeout', '120s', ...args])
      ).trim();
    const rows: (string | number)[][] = [];
    let made = 0;
    for (const count of [1, PODS]) {
      for (const side of sides) {
        if (made === 0) await crictl(side, ['pull', image]);
        for (let i = made; i < count; i++)
          await makeSleepingPod((args) => crictl(side, args), fs.dir, container, side.name, i);
      }
      made = count;
      const pods = `${count} pod${count === 1 ? '' : 's'}`;
      /** One warm-up call each, then `calls` alternating side by side; a row of medians and ratios. */
      const alternate = async (label: string, calls: number, call: (side: Side) => Promise<number>) => {
        const samples = new Map<string, number[]>(sides.map((s) => [s.name, []]));
        for (const side of sides) await call(side);
        for (let i = 0; i < calls; i++) {
          const order = i % 2 === 0 ? sides : [...sides].reverse();
          for (const side of order) samples.get(side.name)!.push(await call(side));
        }
        const medians = sides.map((s) => summarize(samples.get(s.name)!).median);
        const anchor = sides.findIndex((s) => s.name === 'containerd-2.x');
        rows.push([
          `${label}, ${pods}`,
          ...medians,
          ...(anchor >= 0 ? medians.map((m) => (m / medians[anchor]!).toFixed(2)) : []),
        ]);
      };
      for (const rpc of RPCS) await alternate(rpc, CALLS, (side) => side.call(rpc));
      await alternate(`crictl imagefsinfo (process, ${CRICTL_CALLS} calls)`, CRICTL_CALLS, async (side) => {
        const t0 = performance.now();
        await crictl(side, ['imagefsinfo']);
        return performance.now() - t0;
      });
    }
    for (const side of sides) await crictl(side, ['rmp', '--force', '--all']);
    console.log(
      `CRI calls on a kept gRPC connection (@grpc/grpc-js on every side), median of ${CALLS} (ms); crictl rows: whole processes`,
    );
    const anchored = sides.some((s) => s.name === 'containerd-2.x');
    printTable(
      ['call', ...sides.map((s) => s.name), ...(anchored ? sides.map((s) => `${s.name} / 2.x`) : [])],
      rows,
    );
  } finally {
    for (const side of sides) side.close();
    for (const side of sides.reverse()) await side.stop().catch(() => undefined);
    await reg.stop();
    await fs.remove();
  }
}

await main();
