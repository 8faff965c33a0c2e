/**
 * The test cluster's certificates, made with openssl for one run: a CA, serving certificates for
 * etcd and the API server (loopback names only), a client certificate for each component and the
 * operator, and the service-account signing key. Keys never leave the run's folder (mode 0700).
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFileCapture } from '../../src/common/exec.js';

export interface CertPair {
  cert: string;
  key: string;
}

export interface ClusterPki {
  dir: string;
  ca: CertPair;
  etcd: CertPair;
  apiserver: CertPair;
  /** The API server's client certificate towards etcd. */
  apiserverEtcdClient: CertPair;
  /** The API server's client certificate towards kubelet (logs, exec, attach, port-forward). */
  apiserverKubeletClient: CertPair;
  controllerManager: CertPair;
  scheduler: CertPair;
  /** `system:node:<name>` in `system:nodes`: what the Node authorizer expects of a kubelet. */
  kubelet: CertPair;
  /** The operator: `system:masters`. */
  admin: CertPair;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

/** The names the API server answers to: loopback, and the `kubernetes` service as pods see it. */
const APISERVER_NAMES = [
  'DNS:localhost',
  'DNS:kubernetes',
  'DNS:kubernetes.default',
  'DNS:kubernetes.default.svc',
  'DNS:kubernetes.default.svc.cluster.local',
  'IP:127.0.0.1',
];

async function openssl(args: string[]): Promise<void> {
  const r = await execFileCapture('openssl', args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`openssl ${args.slice(0, 2).join(' ')} failed: ${r.stderr.trim()}`);
}

export async function makePki(dir: string, nodeName: string, serviceIp: string): Promise<ClusterPki> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o700);
  const ca: CertPair = { cert: path.join(dir, 'ca.crt'), key: path.join(dir, 'ca.key') };
  await openssl([
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    ca.key,
    '-out',
    ca.cert,
    '-days',
    '7',
    '-subj',
    '/CN=berth-test-cluster-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const issue = async (
    name: string,
    subject: string,
    usage: 'server' | 'client' | 'both',
    altNames: string[] = [],
  ): Promise<CertPair> => {
    const pair = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
    const csr = path.join(dir, `${name}.csr`);
    const ext = path.join(dir, `${name}.ext`);
    const eku = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[usage];
    await writeFile(
      ext,
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature,keyEncipherment',
        `extendedKeyUsage=${eku}`,
        ...(altNames.length > 0 ? [`subjectAltName=${altNames.join(',')}`] : []),
      ].join('\n') + '\n',
    );
    await openssl([
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      pair.key,
      '-out',
      csr,
      '-subj',
      subject,
    ]);
    await openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-CAcreateserial',
      '-out',
      pair.cert,
      '-days',
      '7',
      '-extfile',
      ext,
    ]);
    return pair;
  };
  const serviceAccountKey = path.join(dir, 'sa.key');
  const serviceAccountPub = path.join(dir, 'sa.pub');
  await openssl([
    'genpkey',
    '-algorithm',
    'RSA',
    '-pkeyopt',
    'rsa_keygen_bits:2048',
    '-out',
    serviceAccountKey,
  ]);
  await openssl(['pkey', '-in', serviceAccountKey, '-pubout', '-out', serviceAccountPub]);
  return {
    dir,
    ca,
    etcd: await issue('etcd', '/CN=etcd', 'both', ['DNS:localhost', 'IP:127.0.0.1']),
    apiserver: await issue('apiserver', '/CN=kube-apiserver', 'server', [
      ...APISERVER_NAMES,
      `IP:${serviceIp}`,
    ]),
    apiserverEtcdClient: await issue('apiserver-etcd-client', '/CN=kube-apiserver-etcd-client', 'client'),
    apiserverKubeletClient: await issue(
      'apiserver-kubelet-client',
      '/O=system:masters/CN=kube-apiserver-kubelet-client',
      'client',
    ),
    controllerManager: await issue('controller-manager', '/CN=system:kube-controller-manager', 'client'),
    scheduler: await issue('scheduler', '/CN=system:kube-scheduler', 'client'),
    kubelet: await issue('kubelet', `/O=system:nodes/CN=system:node:${nodeName}`, 'client'),
    admin: await issue('admin', '/O=system:masters/CN=berth-admin', 'client'),
    serviceAccountKey,
    serviceAccountPub,
  };
}

/** A kubeconfig for one identity on the cluster's API server. */
export async function writeKubeconfig(
  file: string,
  server: string,
  ca: string,
  user: string,
  pair: CertPair,
): Promise<string> {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'berth', cluster: { server, 'certificate-authority': ca } }],
    users: [{ name: user, user: { 'client-certificate': pair.cert, 'client-key': pair.key } }],
    contexts: [{ name: 'berth', context: { cluster: 'berth', user, namespace: 'default' } }],
    'current-context': 'berth',
  };
  await writeFile(file, JSON.stringify(config, null, 2), { mode: 0o600 });
  return file;
}
