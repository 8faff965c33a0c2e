/**
 * The test cluster's certificates, made with openssl for one run: a CA, serving certificates for
 * etcd and the API server (loopback names only), a client certificate for each component and the
 * operator, and the service-account signing key. Keys never leave the run's folder (mode 0700).
 */
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { issueCert, openssl, selfSigned, type CertPair, type IssueOptions } from '../helpers/test-pki.js';

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

export async function makePki(dir: string, nodeName: string, serviceIp: string): Promise<ClusterPki> {
  await mkdir(dir, { recursive: true });
  await chmod(dir, 0o700);
  const ca = await selfSigned(dir, 'ca', 'berth-test-cluster-ca', { ca: true, days: 7 });
  const issue = (
    name: string,
    subject: string,
    usage: IssueOptions['usage'],
    altNames: string[] = [],
  ): Promise<CertPair> => issueCert(ca, dir, name, { subject, usage, altNames, days: 7 });
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
