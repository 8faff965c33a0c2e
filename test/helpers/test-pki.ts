/**
 * Certificates for a test, made with openssl (P-256 keys): a CA, and certificates it signs for a
 * server, a client or both. Test registries, token issuers and the test cluster share these.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFileCapture } from '../../src/common/exec.js';

export interface CertPair {
  cert: string;
  key: string;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function openssl(args: string[]): Promise<void> {
  const r = await execFileCapture('openssl', args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`openssl ${args.slice(0, 2).join(' ')} failed: ${r.stderr.trim()}`);
}

/**
 * A self-signed certificate `<dir>/<name>.crt` and its key; `ca` makes it a certificate
 * authority (basic constraints and key usage a verifier checks).
 */
export async function selfSigned(
  dir: string,
  name: string,
  commonName: string,
  opts: { ca?: boolean; days?: number } = {},
): Promise<CertPair> {
  const pair = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  const caExtensions = opts.ca
    ? ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']
    : [];
  await openssl([
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    pair.key,
    '-out',
    pair.cert,
    '-days',
    String(opts.days ?? 2),
    '-subj',
    `/CN=${commonName}`,
    ...caExtensions,
  ]);
  return pair;
}

export interface IssueOptions {
  /** `/O=…/CN=…` */
  subject: string;
  usage: 'server' | 'client' | 'both';
  /** `DNS:…` and `IP:…` entries. */
  altNames?: string[];
  days?: number;
}

/** A certificate `<dir>/<name>.crt` signed by `ca`, and its key. */
export async function issueCert(
  ca: CertPair,
  dir: string,
  name: string,
  opts: IssueOptions,
): Promise<CertPair> {
  const pair = { cert: path.join(dir, `${name}.crt`), key: path.join(dir, `${name}.key`) };
  const csr = path.join(dir, `${name}.csr`);
  const ext = path.join(dir, `${name}.ext`);
  const eku = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[opts.usage];
  const altNames = opts.altNames ?? [];
  await writeFile(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${eku}`,
      ...(altNames.length > 0 ? [`subjectAltName=${altNames.join(',')}`] : []),
    ].join('\n') + '\n',
  );
  await openssl(['req', '-new', ...EC_KEY, '-keyout', pair.key, '-out', csr, '-subj', opts.subject]);
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
    String(opts.days ?? 2),
    '-extfile',
    ext,
  ]);
  return pair;
}
