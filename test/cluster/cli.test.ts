/** scripts/cluster's flags: bad ones are refused with exit 2 before anything starts. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { execFileCapture } from '../../src/common/exec.js';
import { REPO } from '../helpers/berthd.js';

const MAIN = path.join(REPO, 'dist/test/cluster/main.js');
const run = (args: string[]) => execFileCapture('node', [MAIN, ...args], { timeoutMs: 30_000 });

describe('scripts/cluster flags', () => {
  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['--runtime', 'podman'], /--runtime: "podman" is neither berth nor containerd/],
    [['--apiserver-port', '70000'], /--apiserver-port: not a port: "70000"/],
    [['--etcd-ports', '12379'], /--etcd-ports: two ports, client and peer/],
  ])('%j is refused with exit 2, naming the problem', async (args, message) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toMatch(/usage: scripts\/cluster/);
  });

  it('--help prints the usage and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/--runtime NAME/);
  });
});
