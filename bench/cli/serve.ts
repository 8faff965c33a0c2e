/**
 * For the CLI rows of docs/benchmarks.md: starts berthd and an isolated containerd 2.x (or 1.6)
 * with the same tiny busybox image in each, prints the two whole-process commands to compare
 * (`berth run --rm … echo hi` and `ctr run --rm … echo hi`, the same work on each side), and keeps
 * both running until it gets SIGINT or SIGTERM, then removes everything it started. Time the two
 * commands with any external timer that runs them in turn (A B A B …), e.g. hyperfine or a loop
 * of /usr/bin/time.
 *
 * Usage: node dist/bench/cli/serve.js [--containerd 2.x|1.6] [--commands FILE]
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startRegistry } from '../../test/helpers/registry.js';
import { registryConfigArgs } from '../../test/images/support.js';
import { execFile } from '../../src/common/exec.js';
import { pushTinyImage } from '../common/tiny-image.js';
import { startBenchBerthd, stopBenchBerthd } from '../common/berthd.js';
import { ContainerdHarness } from '../containerd/harness.js';
import type { ContainerdRelease } from '../containerd/config.js';

const BERTH_CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const { values: opts } = parseArgs({
  options: { containerd: { type: 'string', default: '2.x' }, commands: { type: 'string' } },
});

const quote = (w: string) => (/^[\w@%+=:,./-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`);

const dir = await mkdtemp(path.join(tmpdir(), 'berth-bench-cli-'));
const reg = await startRegistry();
const image = await pushTinyImage(reg, dir);
const berthd = await startBenchBerthd(dir, await registryConfigArgs(dir, [reg.host]));
const containerd = await ContainerdHarness.start({
  release: opts.containerd as ContainerdRelease,
  registryMirrors: { [reg.host]: `http://${reg.host}` },
});
const berthSocket = path.join(berthd.state, 'berth.sock');
const berth = [process.execPath, BERTH_CLI, '--socket', berthSocket];
await execFile(berth[0]!, [...berth.slice(1), 'pull', image]);
await containerd.ctr(['images', 'pull', '--plain-http', image]);
const commands = {
  berth: [...berth, 'run', '--rm', image, 'echo', 'hi'],
  ctr: [
    containerd.ctrPath,
    '--address',
    containerd.socket,
    '--namespace',
    containerd.namespace,
    ...containerd.runArgs(image, 'cli-bench', ['echo', 'hi']),
  ],
};
const text = `berth: ${commands.berth.map(quote).join(' ')}\nctr:   ${commands.ctr.map(quote).join(' ')}\n`;
process.stdout.write(text);
if (opts.commands) await writeFile(opts.commands, JSON.stringify(commands));
process.stdout.write('ready; SIGINT or SIGTERM stops both and removes what they made\n');

await new Promise<void>((resolve) => {
  process.once('SIGINT', resolve);
  process.once('SIGTERM', resolve);
});
await stopBenchBerthd(berthd);
await containerd.stop();
await reg.stop();
await execFile('rm', ['-rf', dir]);
