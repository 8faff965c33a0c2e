/**
 * Containers outlive berthd: with 20 running containers berthd is SIGKILLed, 5 containers exit
 * (each with its own code) while it is down, and berthd is restarted on the same root. The 15
 * others must still run untouched (same pids), the 5 exits must be recorded with their exact
 * codes, and every log must be complete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { startBerthd } from '../helpers/berthd.js';
import type { ContainerStatus } from '../../src/daemon/containers.js';
import type { BerthEvent } from '../../src/events/index.js';
import { registryConfigArgs } from '../images/support.js';
import { startContainerEnv, type ContainerEnv } from './support.js';

const TOTAL = 20;
const EXIT_WHILE_DOWN = 5;

let env: ContainerEnv;

beforeAll(async () => {
  env = await startContainerEnv();
}, 180_000);

afterAll(async () => {
  await env?.cleanup();
}, 120_000);

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T, R>(items: T[], limit: number, fn: (t: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!, i);
      }
    }),
  );
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('berthd restart', () => {
  it(`${TOTAL} running containers survive a SIGKILL; ${EXIT_WHILE_DOWN} exits while down are recorded exactly`, async () => {
    const client = () => env.berthd.client;
    // Each waits for /tmp/go (written from the host into its rootfs), then says bye and exits 10+i.
    const started = await pool([...Array(TOTAL).keys()], 4, async (i) => {
      const c = await client().post<ContainerStatus>('/v1/containers', {
        name: `survivor-${i}`,
        pull: true,
        image: env.image,
        command: [
          'sh',
          '-c',
          `echo hello ${i}; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo bye ${i}; exit ${10 + i}`,
        ],
      });
      return client().post<ContainerStatus>(`/v1/containers/${c.id}/start`);
    });
    expect(started.every((c) => c.state === 'running' && c.pid! > 0)).toBe(true);

    const { berthd } = env;
    berthd.proc.kill('SIGKILL');
    await new Promise((r) => berthd.proc.once('exit', r));

    const leaving = started.slice(0, EXIT_WHILE_DOWN);
    for (const c of leaving)
      await writeFile(path.join(berthd.state, 'containers', c.id, 'rootfs', 'tmp', 'go'), '');
    // Wait (bounded) for conmon to record each exit while berthd is down.
    for (const c of leaving) {
      const exitFile = path.join(berthd.state, 'runtime', 'exits', c.id);
      for (let n = 0; n < 300 && !existsSync(exitFile); n++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(exitFile)).toBe(true);
    }

    env.berthd = await startBerthd({
      root: berthd.root,
      state: berthd.state,
      nodeId: berthd.nodeId,
      args: await registryConfigArgs(env.work, [env.reg.host]),
    });

    const after = await client().get<ContainerStatus[]>('/v1/containers');
    expect(after).toHaveLength(TOTAL);
    const byId = new Map(after.map((c) => [c.id, c]));
    for (const [i, c] of started.entries()) {
      const now = byId.get(c.id)!;
      if (i < EXIT_WHILE_DOWN) {
        expect(now).toMatchObject({ state: 'exited', exitCode: 10 + i, reason: 'Error' });
        const exits: BerthEvent[] = [];
        for await (const e of client().stream<BerthEvent>('/v1/events', {
          entity: c.id,
          topic: '/tasks/exit',
        }))
          exits.push(e);
        expect(exits).toHaveLength(1);
        expect(exits[0]!.data).toMatchObject({ exitCode: 10 + i });
        expect(exits[0]!.cause).toMatchObject({ kind: 'reconciler' });
        const lines: string[] = [];
        for await (const l of client().stream<{ text: string }>(`/v1/containers/${c.id}/logs`))
          lines.push(l.text);
        expect(lines).toEqual([`hello ${i}`, `bye ${i}`]);
      } else {
        // Untouched: still running, same init process.
        expect(now).toMatchObject({ state: 'running', pid: c.pid });
        expect(alive(c.pid!)).toBe(true);
        const lines: string[] = [];
        for await (const l of client().stream<{ text: string }>(`/v1/containers/${c.id}/logs`))
          lines.push(l.text);
        expect(lines).toEqual([`hello ${i}`]);
      }
    }

    await pool(started, 4, (c) => client().delete(`/v1/containers/${c.id}?force=true`));
    expect(await client().get<ContainerStatus[]>('/v1/containers')).toEqual([]);
  }, 300_000);
});
