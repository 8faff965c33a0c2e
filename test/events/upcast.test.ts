import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EventLog } from '../../src/events/log.js';
import type { BerthEvent } from '../../src/events/model.js';
import { Projections } from '../../src/events/projections/projections.js';
import { eventKey, HEAD_KEY, subjectKey, topicKey, idemKey } from '../../src/events/keys.js';
import { upcast } from '../../src/events/topics.js';
import { tempRoot } from './helpers/fixtures.js';

const FIXTURE = fileURLToPath(new URL('../fixtures/events/v1-log.ndjson', import.meta.url));

let root: { dir: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  root = await tempRoot();
});
afterEach(async () => {
  await root.cleanup();
});

/** Writes the fixture lines into a fresh log exactly as an old berthd stored them. */
async function loadFixture(dir: string): Promise<string[]> {
  const lines = (await readFile(FIXTURE, 'utf8')).split('\n').filter(Boolean);
  const log = await EventLog.open(dir);
  const ops = lines.flatMap((raw) => {
    const e = JSON.parse(raw) as BerthEvent;
    return [
      { type: 'put' as const, key: eventKey(e.seq), value: raw },
      { type: 'put' as const, key: subjectKey(e.subject, e.seq), value: '' },
      { type: 'put' as const, key: topicKey(e.topic, e.seq), value: '' },
      ...(e.key ? [{ type: 'put' as const, key: idemKey(e.key), value: String(e.seq) }] : []),
    ];
  });
  const last = JSON.parse(lines.at(-1)!) as BerthEvent;
  ops.push({ type: 'put', key: HEAD_KEY, value: JSON.stringify({ seq: last.seq, hash: last.hash }) });
  await log.rawDb.batch(ops, { sync: true });
  await log.close();
  return lines;
}

describe('v1 events committed as fixtures', () => {
  it('verify, read as the current version, and are never rewritten', async () => {
    const dir = join(root.dir, 'events');
    const lines = await loadFixture(dir);
    const log = await EventLog.open(dir);
    expect(await log.verify()).toMatchObject({ ok: true, checked: 7 });
    const image = (await log.get(2))!;
    expect(image.data).toEqual({
      v: 2,
      name: 'docker.io/library/alpine:3.18',
      target: { digest: `sha256:${'1'.repeat(64)}`, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect((await log.get(3))!.data).toMatchObject({
      v: 2,
      target: {
        digest: `sha256:${'2'.repeat(64)}`,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      },
    });
    expect((await log.get(7))!.data).toEqual({
      v: 2,
      containerId: 'c1',
      pid: 100,
      exitCode: 3,
      oomKilled: false,
      exitedAt: '2025-01-02T03:04:05.000Z',
    });
    const p = await Projections.open(log);
    expect(p.state.images['k8s.io/docker.io/library/alpine:3.18']?.target.digest).toBe(
      `sha256:${'2'.repeat(64)}`,
    );
    expect(p.state.tasks['k8s.io/c1']).toMatchObject({ status: 'stopped', exitCode: 3, oomKilled: false });
    // New events chain on after the old ones.
    const next = await log.append({
      namespace: 'k8s.io',
      topic: '/tasks/delete',
      data: { v: 1, containerId: 'c1' },
      cause: { kind: 'api', call: 'x' },
    });
    expect(next.prev).toBe((JSON.parse(lines[6]!) as BerthEvent).hash);
    await p.close();
    for (let i = 0; i < lines.length; i++) expect(await log.rawDb.get(eventKey(i + 1))).toBe(lines[i]);
    expect((await log.verify()).ok).toBe(true);
    await log.close();
  });

  it('an idempotency key stored by v1 still deduplicates', async () => {
    const dir = join(root.dir, 'events');
    await loadFixture(dir);
    const log = await EventLog.open(dir);
    const again = await log.append({
      namespace: 'k8s.io',
      topic: '/containers/create',
      data: { v: 1, id: 'c1', image: 'x' },
      cause: { kind: 'workflow', workflowId: 'container:c1:create', runId: 'run-2', step: 'record' },
    });
    expect(again.seq).toBe(4);
    await log.close();
  });

  it('refuses data from a version with no upcaster', () => {
    expect(() => upcast('/images/create', { v: 0, name: 'x' })).toThrow(
      /no upcaster for \/images\/create data v0/,
    );
  });
});
