/** `explain` names a live container or pod as the other commands do: by name or id prefix. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { InvalidArgumentError } from '../../src/common/errors.js';
import { EventLog } from '../../src/events/log.js';
import { Projections } from '../../src/events/projections/projections.js';
import { containerCreate, tempRoot } from './helpers/fixtures.js';
import { podLifecycle } from './helpers/scenario.js';

let root: { dir: string; cleanup: () => Promise<void> };
let log: EventLog;
let p: Projections;
beforeEach(async () => {
  root = await tempRoot();
  log = await EventLog.open(join(root.dir, 'events'));
  p = await Projections.open(log);
  // The pod lifecycle leaves pod1 ("nginx-pod") and its container c1; then two named containers.
  for (const r of podLifecycle()) await log.append(r);
  await log.append(
    containerCreate('0a1b2c3d4e5f', 'default', {
      data: { v: 1, id: '0a1b2c3d4e5f', image: 'busybox', name: 'web' },
    }),
  );
  await log.append(
    containerCreate('0a1f00000000', 'default', {
      data: { v: 1, id: '0a1f00000000', image: 'busybox', name: 'db' },
    }),
  );
});
afterEach(async () => {
  await p.close();
  await log.close();
  await root.cleanup();
});

describe('explain by name or id prefix', () => {
  it('finds a container by its name, as berth logs and berth stop do', async () => {
    const ex = await p.explain('web');
    expect(ex).toMatchObject({ id: '0a1b2c3d4e5f', kind: 'container' });
    expect(ex.events.map((e) => e.topic)).toEqual(['/containers/create']);
    expect(ex.current).toHaveLength(1);
  });

  it('finds a container by a unique prefix of its id, and a pod by its name', async () => {
    expect(await p.explain('0a1b')).toMatchObject({ id: '0a1b2c3d4e5f', kind: 'container' });
    const pod = await p.explain('nginx-pod');
    expect(pod).toMatchObject({ id: 'pod1', kind: 'sandbox' });
    expect(pod.events.map((e) => e.topic)).toContain('/network/attach');
  });

  it('refuses an ambiguous prefix, naming the matches', async () => {
    await expect(p.explain('0a1')).rejects.toThrow(InvalidArgumentError);
    await expect(p.explain('0a1')).rejects.toThrow(
      /"0a1" matches 2 entities \(container:0a1b2c3d4e5f, container:0a1f00000000\): give more of the id, or KIND:ID/,
    );
  });

  it('keeps exact ids, and kinds given with a name', async () => {
    expect(await p.explain('c1')).toMatchObject({ id: 'c1' });
    expect((await p.explain('task:web')).events).toEqual([]); // web has no task events
    expect(await p.explain('task:web')).toMatchObject({ id: '0a1b2c3d4e5f', kind: 'task' });
    expect(await p.explain('sandbox:web')).toMatchObject({ id: 'web', events: [] }); // no pod is named web
  });
});
