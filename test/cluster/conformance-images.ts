/**
 * Look-alikes of the images the Kubernetes v1.36 node conformance specs pull
 * (test/utils/image/manifest.go), built here and pushed to a loopback registry under their
 * upstream paths and tags; the node runtime reaches them by their upstream names through a
 * registry mirror. agnhost is the real program, built from k8s.io/kubernetes v1.36.3
 * (test/images/agnhost) by scripts/setup; the userland around it is Debian's busybox.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from '../../src/common/exec.js';
import type { FileSpec } from '../helpers/oci-images.js';
import { writeOciLayout } from '../helpers/oci-images.js';
import type { TestRegistry } from '../helpers/registry.js';
import { TOOLS_BIN } from '../helpers/berthd.js';
import { toolVersion } from '../helpers/versions.js';
import { baseFiles, buildNnp, nginxFiles, NGINX_TITLE } from '../cri/critest/images.js';

export const AGNHOST = path.join(TOOLS_BIN, 'agnhost');
const KUBERNETES_VERSION = toolVersion('KUBERNETES_VERSION');
/** agnhost's sources in the module cache (setup downloaded them to build it): its test certificate. */
const PORTER = path.join(
  TOOLS_BIN,
  '..',
  `go/pkg/mod/k8s.io/kubernetes@v${KUBERNETES_VERSION}/test/images/agnhost/porter`,
);

/** The lifecycle-hook specs run `curl URL` in agnhost's image (alpine has curl); busybox has wget. */
const CURL = `#!/bin/sh
# curl [flags] URL: prints the body (the last argument is the URL)
for url; do :; done
exec wget -qO- "$url"
`;
/**
 * The networking specs send UDP with `nc -w 1 -u IP PORT` in agnhost's image (alpine's busybox
 * has -u, Debian's does not): bash's /dev/udp does it; everything else goes to busybox's nc.
 */
const NC = `#!/bin/bash
wait=1 udp=
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    -u) udp=1 ;;
    -w) wait="$2"; shift ;;
    -w*) wait="\${1#-w}" ;;
    *) args+=("$1") ;;
  esac
  shift
done
[ -n "$udp" ] || exec /bin/busybox nc -w "$wait" "\${args[@]}"
exec 3<>"/dev/udp/\${args[0]}/\${args[1]}" || exit 1
cat >&3
IFS= read -r -t "$wait" -N 65535 reply <&3
[ -n "$reply" ] && printf '%s\\n' "$reply"
`;
/** The registries the specs' images name; each is mirrored to the loopback registry. */
export const E2E_REGISTRIES = ['registry.k8s.io', 'gcr.io'];
const E2E = 'registry.k8s.io/e2e-test-images';

/** agnhost's image: alpine with a user and group of its own (its Dockerfile). */
const AGNHOST_ACCOUNTS = {
  passwd:
    'root:x:0:0:root:/root:/bin/sh\nuser-defined-in-image:x:1000:1000::/home/user-defined-in-image:/bin/sh\n',
  group: 'root:x:0:\nuser-defined-in-image:x:1000:\ngroup-defined-in-image:x:50000:user-defined-in-image\n',
};

interface Variant {
  refs: string[];
  entrypoint?: string[];
  cmd: string[];
  user?: string;
  files: () => Promise<FileSpec[]>;
}

async function variants(work: string): Promise<Variant[]> {
  const agnhost = await readFile(AGNHOST);
  const nnp = await buildNnp(work);
  const agnhostFiles = async (): Promise<FileSpec[]> =>
    baseFiles(
      [
        { path: 'agnhost', content: agnhost, mode: 0o755 },
        { path: 'agnhost-2', type: 'symlink', linkname: 'agnhost' },
        { path: 'uploads', type: 'directory', mode: 0o755 },
        { path: 'usr/bin/curl', content: CURL, mode: 0o755 },
        { path: 'usr/bin/nc', content: NC, mode: 0o755 },
        // Specs run `/bin/bash -c` in agnhost's image (its Dockerfile installs bash): Debian's.
        { path: 'bin/bash', content: await readFile('/bin/bash'), mode: 0o755 },
        {
          path: 'lib/x86_64-linux-gnu/libtinfo.so.6',
          content: await readFile('/lib/x86_64-linux-gnu/libtinfo.so.6'),
          mode: 0o644,
        },
        // netexec --https serves with these (its Dockerfile adds them at /).
        { path: 'localhost.crt', content: await readFile(path.join(PORTER, 'localhost.crt')), mode: 0o644 },
        { path: 'localhost.key', content: await readFile(path.join(PORTER, 'localhost.key')), mode: 0o600 },
        { path: 'home/user-defined-in-image', type: 'directory', mode: 0o755 },
      ],
      AGNHOST_ACCOUNTS,
    );
  return [
    { refs: [`${E2E}/busybox:1.37.0-1`], cmd: ['sh'], files: () => baseFiles() },
    {
      refs: [`${E2E}/agnhost:2.63.0`, `${E2E}/agnhost:2.55`],
      entrypoint: ['/agnhost'],
      cmd: ['pause'],
      files: agnhostFiles,
    },
    {
      // The pause image the specs run as a container (and containerd's sandbox image name).
      refs: ['registry.k8s.io/pause:3.10.2'],
      entrypoint: ['/agnhost'],
      cmd: ['pause'],
      files: agnhostFiles,
    },
    {
      refs: [`${E2E}/nginx:1.15-4`, `${E2E}/nginx:1.27-0`],
      cmd: ['/usr/sbin/nginx', NGINX_TITLE],
      files: () => baseFiles(nginxFiles()),
    },
    {
      refs: [`${E2E}/nonewprivs:1.4`],
      cmd: ['nnp'],
      files: () => baseFiles([{ path: 'usr/local/bin/nnp', content: nnp, mode: 0o4755 }]),
    },
    { refs: [`${E2E}/nonroot:1.5`], user: '1234', cmd: ['sh'], files: () => baseFiles() },
    // The hostname-override specs run `hostname -f`: glibc's resolver reading kubelet's /etc/hosts.
    { refs: [`${E2E}/glibc-dns-testing:2.0.0`], cmd: ['sh'], files: () => baseFiles() },
    {
      refs: [`${E2E}/kitten:1.8`],
      entrypoint: ['/agnhost'],
      cmd: ['test-webserver'],
      files: async () => [
        ...(await agnhostFiles()),
        { path: 'kitten.jpg', content: 'not really a kitten\n', mode: 0o644 },
        { path: 'data.json', content: '{"kitten":"look-alike"}\n', mode: 0o644 },
      ],
    },
  ];
}

/** Builds every look-alike and pushes it to `reg` under its upstream path and tag. */
export async function pushConformanceImages(reg: TestRegistry, work: string): Promise<string[]> {
  if (!existsSync(AGNHOST)) throw new Error(`agnhost is not at ${AGNHOST}: run scripts/setup --tests`);
  const pushed: string[] = [];
  for (const [i, v] of (await variants(work)).entries()) {
    const layout = path.join(work, `e2e-image-${i}`);
    await mkdir(layout, { recursive: true });
    await writeOciLayout(layout, 'img', { layers: [{ files: await v.files() }], cmd: v.cmd });
    const config = [
      ...(v.user ? ['--config.user', v.user] : []),
      ...(v.entrypoint ? v.entrypoint.flatMap((e) => ['--config.entrypoint', e]) : []),
    ];
    if (config.length > 0) {
      // umoci drops the Cmd when the entrypoint changes: give it again.
      const cmd = v.entrypoint ? v.cmd.flatMap((c) => ['--config.cmd', c]) : [];
      await execFile('umoci', ['config', '--image', `${layout}:img`, ...config, ...cmd]);
    }
    for (const ref of v.refs) {
      const slash = ref.indexOf('/');
      const colon = ref.lastIndexOf(':');
      await reg.push(layout, 'img', ref.slice(slash + 1, colon), { destTag: ref.slice(colon + 1) });
      pushed.push(ref);
    }
  }
  return pushed;
}
