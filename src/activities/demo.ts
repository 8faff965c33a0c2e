/**
 * Activities of the demo transition. Each is idempotent: it looks for its mark before acting, so a
 * retry after a crash does not act twice. `effects.log` gets one line each time a step really acts,
 * which is what crash tests count to prove exactly-once.
 */
import { appendFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../common/errors.js';
import { recordEvent, type ActivityContext } from './context.js';

/** The demo's reservation is recorded as a namespace, so its events and their undo show in the log. */
const DEMO_NAMESPACE = 'berth-demo';

export function createDemoActivities(ctx: Pick<ActivityContext, 'config' | 'events'>) {
  const dir = (id: string) => {
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(id)) throw new InvalidArgumentError(`demo id "${id}" is not valid`);
    return join(ctx.config.root, 'demo', id);
  };
  const record = (id: string, topic: '/namespaces/create' | '/namespaces/delete') =>
    recordEvent(ctx, { namespace: DEMO_NAMESPACE, topic, data: { v: 1, name: `demo-${id}` } });
  const step = async (id: string, name: string, refuse: boolean) => {
    if (refuse) throw new InvalidArgumentError(`demo step "${name}" refused its input for "${id}"`);
    const d = dir(id);
    const mark = join(d, name);
    if (await exists(mark)) return;
    await mkdir(d, { recursive: true });
    await appendFile(join(d, 'effects.log'), `do ${name}\n`);
    await writeFile(mark, '');
  };
  return {
    async demoReserve(id: string, refuse = false): Promise<void> {
      await step(id, 'reserve', refuse);
      await record(id, '/namespaces/create');
    },
    demoWrite: (id: string, refuse = false) => step(id, 'write', refuse),
    demoPublish: (id: string, refuse = false) => step(id, 'publish', refuse),
    async demoUndo(id: string, name: string): Promise<void> {
      const d = dir(id);
      const mark = join(d, name);
      if (await exists(mark)) {
        await appendFile(join(d, 'effects.log'), `undo ${name}\n`);
        await rm(mark);
      }
      if (name === 'reserve') await record(id, '/namespaces/delete');
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
