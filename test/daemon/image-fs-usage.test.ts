/** The in-memory ImageFsInfo answer: recomputed when content or snapshots changed, behind the call when old. */
import { describe, expect, it } from 'vitest';
import { CachedUsage, changesImageFs } from '../../src/daemon/image-fs-usage.js';

function counter() {
  let calls = 0;
  let release: (() => void) | undefined;
  let hold = false;
  return {
    compute: async () => {
      calls++;
      const n = calls;
      if (hold) await new Promise<void>((r) => (release = r));
      return n;
    },
    get calls() {
      return calls;
    },
    hold(on: boolean) {
      hold = on;
    },
    release: () => release?.(),
  };
}

describe('ImageFsInfo from memory', () => {
  it('computes once, then answers from memory while nothing changes', async () => {
    const c = counter();
    const cache = new CachedUsage(c.compute, 10_000, () => 0);
    expect(await cache.get()).toBe(1);
    expect(await cache.get()).toBe(1);
    expect(c.calls).toBe(1);
  });

  it('after a content or snapshot event, the next answer is computed anew before it is returned', async () => {
    const c = counter();
    const cache = new CachedUsage(c.compute, 10_000, () => 0);
    await cache.get();
    cache.changed();
    expect(await cache.get()).toBe(2);
  });

  it('an event during a computation is not lost: that answer is not returned as current', async () => {
    const c = counter();
    const cache = new CachedUsage(c.compute, 10_000, () => 0);
    c.hold(true);
    const first = cache.get();
    await Promise.resolve();
    cache.changed(); // lands while computation 1 is running
    c.hold(false);
    c.release();
    expect(await first).toBe(2);
  });

  it('an old answer is returned at once and refreshed behind the call', async () => {
    const c = counter();
    let now = 0;
    const cache = new CachedUsage(c.compute, 10_000, () => now);
    await cache.get();
    now = 10_001;
    expect(await cache.get()).toBe(1); // the old answer, at once
    await cache.settled();
    expect(await cache.get()).toBe(2);
  });

  it('a failed computation fails the call and is tried again on the next', async () => {
    let fail = true;
    const cache = new CachedUsage(async () => {
      if (fail) throw new Error('walk failed');
      return 7;
    });
    await expect(cache.get()).rejects.toThrow('walk failed');
    fail = false;
    expect(await cache.get()).toBe(7);
  });

  it('counts content and snapshot topics as changes, nothing else', () => {
    expect(
      (
        [
          '/content/create',
          '/content/delete',
          '/snapshot/prepare',
          '/snapshot/commit',
          '/snapshot/remove',
        ] as const
      ).every((topic) => changesImageFs({ topic })),
    ).toBe(true);
    expect(changesImageFs({ topic: '/containers/create' })).toBe(false);
    expect(changesImageFs({ topic: '/images/create' })).toBe(false);
  });
});
