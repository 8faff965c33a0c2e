/**
 * scripts/cluster: runs a one-node cluster on Berth (or the reference containerd) in the
 * foreground until interrupted, then stops everything it started.
 */
import type { RuntimeName } from '../kubelet/runtimes.js';
import { Flags } from './cli-flags.js';
import { Cluster, type ClusterPorts } from './cluster.js';

const USAGE = `usage: scripts/cluster [flags]
  --runtime NAME          berth (default) or containerd (the bench's isolated one, as the reference)
  --registry HOST:PORT    a registry the runtime reaches over plain HTTP (loopback)
  --apiserver-port N      kube-apiserver's port on 127.0.0.1 (default 16443)
  --etcd-ports N,M        etcd's client and peer ports (default 12379,12380)
  --kubelet-port N        kubelet's port (default 20250)
  --keep-logs DIR         copy every component's log there when stopping
Prints the operator's kubeconfig; Ctrl-C (or SIGTERM) stops the cluster and removes its folder.
Exit codes: 0 stopped cleanly, 1 failed to start or to stop, 2 bad flags.`;

const flags = new Flags('scripts/cluster', USAGE, {
  runtime: { type: 'string', default: 'berth' },
  registry: { type: 'string' },
  'apiserver-port': { type: 'string', default: '16443' },
  'etcd-ports': { type: 'string', default: '12379,12380' },
  'kubelet-port': { type: 'string', default: '20250' },
  'keep-logs': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
});
const usageError = (message: string): never => flags.fail(message);

function port(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 65535) usageError(`${flag}: not a port: "${text}"`);
  return n;
}

async function main(): Promise<void> {
  const values = flags.parse(process.argv.slice(2));
  if (values.runtime !== 'berth' && values.runtime !== 'containerd')
    usageError(`--runtime: "${values.runtime}" is neither berth nor containerd`);
  const etcd = values['etcd-ports'].split(',');
  if (etcd.length !== 2) usageError(`--etcd-ports: two ports, client and peer: "${values['etcd-ports']}"`);
  const ports: ClusterPorts = {
    apiserver: port(values['apiserver-port'], '--apiserver-port'),
    etcdClient: port(etcd[0]!, '--etcd-ports'),
    etcdPeer: port(etcd[1]!, '--etcd-ports'),
    kubelet: port(values['kubelet-port'], '--kubelet-port'),
  };
  process.stderr.write(
    `cluster: starting etcd, kube-apiserver, controllers, scheduler, ${values.runtime}, kubelet…\n`,
  );
  const cluster = await Cluster.start({
    runtime: values.runtime as RuntimeName,
    ports,
    ...(values.registry ? { registry: { host: values.registry } } : {}),
  });
  process.stdout.write(
    `cluster: ready (node berth-node on ${values.runtime}); logs in ${cluster.dir}/logs\n` +
      `export KUBECONFIG=${cluster.kubeconfig}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stderr.write('cluster: stopping…\n');
  await cluster.stop(values['keep-logs'] ? { keepLogsIn: values['keep-logs'] } : {});
  process.stderr.write('cluster: stopped, nothing left behind\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`scripts/cluster: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
