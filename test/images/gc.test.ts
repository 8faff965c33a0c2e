// collectImageGarbage on real stores (event log, content store, native snapshotter) without a
// daemon: what containers and active snapshots hold is kept, and records are reconciled with disk.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RecordRequest } from '../../src/activities/context.js';
import { FsContentStore, digestOf } from '../../src/content/index.js';
import type { NodeServices } from '../../src/daemon/node-services.js';
import { EventsService } from '../../src/events/service.js';
import { collectImageGarbage } from '../../src/images/gc.js';
import { openSnapshotter } from '../../src/snapshots/index.js';
import type { Snapshotter } from '../../src/snapshots/snapshotter.js';

let dir: string;
let events: EventsService;
let content: FsContentStore;
let snapshotter: Snapshotter;
let step = 0;

const record = (req: RecordRequest) =>
  events.append({
    namespace: req.namespace,
    topic: req.topic,
    data: req.data,
    cause: { kind: 'workflow', workflowId: 'test', runId: 'r', step: req.step ?? `s${++step}` },
  });
const node = () =>
  ({ events, content, snapshotter, puller: { inUse: () => [] }, layout: { root: dir } }) as unknown as Pick<
    NodeServices,
    'events' | 'content' | 'snapshotter' | 'puller' | 'layout'
  >;

const chain = (n: number) => `sha256:${String(n).repeat(64)}`;

async function commit(name: string, parent?: string): Promise<void> {
  const key = `extract-${name}`;
  await snapshotter.prepare(key, parent);
  await snapshotter.commit(name, key);
  await record({
    namespace: 'default',
    topic: '/snapshot/commit',
    data: { v: 1, key: name, name, snapshotter: 'native' },
  });
}

async function put(data: string): Promise<string> {
  const w = await content.writer(`t-${data}`);
  await w.write(Buffer.from(data));
  const d = digestOf(data);
  await w.commit({ digest: d });
  await w.close();
  await record({
    namespace: 'default',
    topic: '/content/create',
    data: { v: 1, digest: d, size: data.length },
  });
  return d;
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'berth-gc-'));
  events = await EventsService.open({ dir: path.join(dir, 'events'), nodeId: 'gc-test' });
  content = new FsContentStore(dir);
  await mkdir(path.join(dir, 'snapshots'), { recursive: true });
  snapshotter = await openSnapshotter('native', path.join(dir, 'snapshots'));
});

afterEach(async () => {
  await events.close();
  await snapshotter.flush();
  await rm(dir, { recursive: true, force: true });
});

describe('image GC', () => {
  it("keeps a container's snapshot chain and an active snapshot's parents, removes the rest", async () => {
    await commit(chain(1));
    await commit(chain(2), chain(1));
    await commit(chain(3));
    await commit(chain(4));
    // A container's rootfs on chain 2 (recorded), and an unrecorded active snapshot on chain 3.
    await snapshotter.prepare('ctr-rootfs', chain(2));
    await record({
      namespace: 'default',
      topic: '/containers/create',
      data: { v: 1, id: 'c1', image: 'x', snapshotKey: 'ctr-rootfs' },
    });
    await snapshotter.prepare('some-active', chain(3));
    const orphan = await put('orphan blob');

    const result = await collectImageGarbage(node(), record);
    expect(result.snapshots).toEqual([chain(4)]);
    expect(result.content).toEqual([orphan]);
    const left: string[] = [];
    await snapshotter.walk((i) => void left.push(i.name));
    expect(left.sort()).toEqual([chain(1), chain(2), chain(3), 'ctr-rootfs', 'some-active'].sort());
    expect(events.projections.get('snapshots', 'default', chain(4))).toBeUndefined();
    expect(events.projections.get('content', 'default', orphan)).toBeUndefined();
    expect((await events.projections.check()).equal).toBe(true);
  });

  it('records the removal of what an interrupted collection removed but did not record', async () => {
    const d = await put('removed behind the log');
    await commit(chain(5));
    // As if a collection had removed both and crashed before appending its events.
    await content.delete(d as never);
    await snapshotter.remove(chain(5));
    expect(events.projections.get('content', 'default', d)).toBeDefined();
    await collectImageGarbage(node(), record);
    expect(events.projections.get('content', 'default', d)).toBeUndefined();
    expect(events.projections.get('snapshots', 'default', chain(5))).toBeUndefined();
  });
});
