/**
 * Once per test run: what the run leaves on the host that no single test can remove. Tests that
 * start berthd on its default CNI network (`10-berth.conflist`) share that network's bridge
 * `berth0` and host-local's `/var/lib/cni/networks/berth`; the bridge plugin never deletes a
 * bridge, so nothing removed them. If neither was there before the run, both go at its end
 * (every test has removed its pods by then). One that was there before is left as it was.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);
const BRIDGE = 'berth0';
const IPAM_DIR = '/var/lib/cni/networks/berth';
const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

const bridgeExists = (): Promise<boolean> =>
  run('ip', ['link', 'show', BRIDGE]).then(
    () => true,
    () => false,
  );

export default async function setup(): Promise<() => Promise<void>> {
  const hadBridge = await bridgeExists();
  const hadIpamDir = existsSync(IPAM_DIR);
  // CNI's bridge turns forwarding on for every network; networks of files running side by side
  // need it on while any runs, so it goes back once, after every file has finished.
  const ipForward = (await readFile(IP_FORWARD, 'utf8')).trim();
  return async () => {
    if ((await readFile(IP_FORWARD, 'utf8')).trim() !== ipForward) {
      await writeFile(IP_FORWARD, `${ipForward}\n`);
      console.log(`test run: set net.ipv4.ip_forward back to ${ipForward}`);
    }
    if (!hadBridge && (await bridgeExists())) {
      await run('ip', ['link', 'del', BRIDGE]);
      console.log(`test run: removed the bridge ${BRIDGE} it made`);
    }
    if (!hadIpamDir && existsSync(IPAM_DIR)) {
      await rm(IPAM_DIR, { recursive: true, force: true });
      console.log(`test run: removed ${IPAM_DIR} it made`);
    }
  };
}
