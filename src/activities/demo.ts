/**
 * Activities of the demo transition. Each is idempotent: it looks for its mark before acting, so a
 * retry after a crash does not act twice. `effects.log` gets one line each time a step really acts,
 * which is what crash tests count to prove exactly-once.
 */
import { appendFile, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../common/errors.js';

export interface DemoActivityDeps {
  root: string;
}

export function createDemoActivities(deps: DemoActivityDeps) {
  const dir = (id: string) => {
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(id)) throw new InvalidArgumentError(`demo id "${id}" is not valid`);
    return join(deps.root, 'demo', id);
  };
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
    demoReserve: (id: string, refuse = false) => step(id, 'reserve', refuse),
    demoWrite: (id: string, refuse = false) => step(id, 'write', refuse),
    demoPublish: (id: string, refuse = false) => step(id, 'publish', refuse),
    async demoUndo(id: string, name: string): Promise<void> {
      const d = dir(id);
      const mark = join(d, name);
      if (!(await exists(mark))) return;
      await appendFile(join(d, 'effects.log'), `undo ${name}\n`);
      await rm(mark);
    },
  };
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
