import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { freePort, isPortFree } from '../../src/daemon/endpoints.js';

describe('ports for embedded services', () => {
  it("are chosen below the kernel's ephemeral range, where client connections never take them", async () => {
    const [low] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/);
    for (let i = 0; i < 20; i++) {
      const port = await freePort();
      expect(port).toBeGreaterThanOrEqual(10_000);
      expect(port).toBeLessThan(Number(low));
      expect(await isPortFree(port)).toBe(true);
    }
  });
});
