/** Shared pieces of the event-log benchmarks: temporary roots, a bounded-state event mix, tables. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppendRequest } from '../../src/events/model.js';

export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const cause = { kind: 'api', call: 'bench' } as const;

/**
 * The i-th event of a container churn over `live` ids: create, task create/start/exit/delete,
 * container delete. The projected state stays bounded however long the log grows, as on a real node.
 */
export function churnEvent(i: number, live = 1000): AppendRequest {
  const step = Math.floor(i / live) % 6;
  const id = `c${i % live}`;
  const ns = 'k8s.io';
  switch (step) {
    case 0:
      return {
        namespace: ns,
        topic: '/containers/create',
        data: { v: 1, id, image: 'docker.io/library/busybox:latest', labels: { app: 'bench' } },
        cause,
      };
    case 1:
      return {
        namespace: ns,
        topic: '/tasks/create',
        data: { v: 1, containerId: id, pid: 1000 + (i % 30000) },
        cause,
      };
    case 2:
      return {
        namespace: ns,
        topic: '/tasks/start',
        data: { v: 1, containerId: id, pid: 1000 + (i % 30000) },
        cause,
      };
    case 3:
      return {
        namespace: ns,
        topic: '/tasks/exit',
        data: {
          v: 2,
          containerId: id,
          pid: 1000 + (i % 30000),
          exitCode: 0,
          exitedAt: '2026-11-23T08:00:00.000Z',
        },
        cause,
      };
    case 4:
      return { namespace: ns, topic: '/tasks/delete', data: { v: 1, containerId: id }, cause };
    default:
      return { namespace: ns, topic: '/containers/delete', data: { v: 1, id }, cause };
  }
}

export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map(String))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n');
}

export const ms = (n: number): string => n.toFixed(1);
