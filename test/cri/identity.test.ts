import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { containerRequestKey, sandboxRequestKey } from '../../src/cri/identity.js';

describe('request identities', () => {
  it('names a pod attempt and a container attempt readably', () => {
    expect(sandboxRequestKey({ namespace: 'default', name: 'web', uid: 'u1', attempt: 2 })).toBe(
      'sandbox:default:web:u1:2',
    );
    expect(containerRequestKey('abc', { name: 'app', attempt: 0 })).toBe('container:abc:app:0');
  });

  it('gives distinct pod identities distinct keys, even with separators in names', () => {
    const meta = fc.record({
      namespace: fc.string(),
      name: fc.string(),
      uid: fc.string(),
      attempt: fc.nat(),
    });
    fc.assert(
      fc.property(meta, meta, (a, b) => {
        const same =
          a.namespace === b.namespace && a.name === b.name && a.uid === b.uid && a.attempt === b.attempt;
        expect(sandboxRequestKey(a) === sandboxRequestKey(b)).toBe(same);
      }),
    );
    expect(sandboxRequestKey({ namespace: 'a:b', name: 'c', uid: 'd', attempt: 0 })).not.toBe(
      sandboxRequestKey({ namespace: 'a', name: 'b:c', uid: 'd', attempt: 0 }),
    );
  });
});
