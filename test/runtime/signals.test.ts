/** Signal names as images and requests write them, in the one form Berth keeps and reports. */
import { describe, expect, it } from 'vitest';
import { canonicalSignal } from '../../src/runtime/signals.js';
import { SIGNAL_NAMES } from '../../src/cri/convert/signals.js';

describe('canonicalSignal', () => {
  it.each([
    ['SIGQUIT', 'SIGQUIT'],
    ['quit', 'SIGQUIT'],
    [' sigusr1 ', 'SIGUSR1'],
    ['3', 'SIGQUIT'],
    ['15', 'SIGTERM'],
    ['34', 'SIGRTMIN'],
    ['37', 'SIGRTMIN+3'],
    ['RTMIN+3', 'SIGRTMIN+3'],
    ['SIGRTMAX-14', 'SIGRTMAX-14'],
    ['SIGRTMAX-15', 'SIGRTMIN+15'],
    ['64', 'SIGRTMAX'],
  ])('%s is %s', (text, name) => {
    expect(canonicalSignal(text)).toBe(name);
  });

  it.each(['', 'SIGNOPE', '0', '32', '65', 'RTMIN-1', 'RTMAX+1', 'RTMIN+31', '-9'])(
    '"%s" is no signal',
    (text) => {
      expect(canonicalSignal(text)).toBeUndefined();
    },
  );

  it('every canonical name is one CRI Signal enum spells out, so ContainerStatus can report it', () => {
    const wireNames = new Set(Object.values(SIGNAL_NAMES));
    for (let n = 1; n <= 64; n++) {
      const name = canonicalSignal(String(n));
      if (name) expect(wireNames, `signal ${n} (${name})`).toContain(name);
    }
  });
});
