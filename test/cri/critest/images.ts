/**
 * Look-alike images for critest v1.36, built from Debian's busybox and pushed to a
 * loopback registry under their upstream repository paths and tags. Both runtimes reach them by
 * their upstream names (registry.k8s.io/…, gcr.io/k8s-staging-cri-tools/…, k8s.gcr.io/…)
 * through a registry mirror, so critest runs without --registry-prefix and every tag, user,
 * group and command the specs check is the one they name (cri-tools v1.36.0 pkg/validate).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from '../../../src/common/exec.js';
import { writeOciLayout, type FileSpec } from '../../helpers/oci-images.js';
import type { TestRegistry } from '../../helpers/registry.js';

/** critest's framework.DefaultLinuxContainerImage and its webServerLinuxImage. */
export const BUSYBOX = 'registry.k8s.io/e2e-test-images/busybox:1.29-2';
export const WEBSERVER = 'registry.k8s.io/e2e-test-images/nginx:1.14-2';
/** The registries critest's images name; each is mirrored to the loopback registry. */
export const UPSTREAM_REGISTRIES = ['registry.k8s.io', 'gcr.io', 'k8s.gcr.io'];
const TEST_IMAGES = 'gcr.io/k8s-staging-cri-tools';

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'www-data:x:33:33:www-data:/var/www:/bin/sh',
  'default-user:x:1000:1000:default-user:/home/default-user:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');
const GROUP = [
  'root:x:0:',
  'www-data:x:33:',
  'default-user:x:1000:',
  'group-defined-in-image:x:50000:default-user',
  'nogroup:x:65534:',
  '',
].join('\n');

/**
 * Serves a folder over HTTP with busybox httpd, printing `banner` first; SIGTERM stops it at once
 * (the main process of a container that owns its PID namespace gets no default SIGTERM action).
 */
const SERVE = `#!/bin/sh
# serve PORT DIR BANNER
echo "$3"
httpd -f -p "$1" -h "$2" &
trap 'kill $! 2>/dev/null; exit 0' TERM INT QUIT
wait
`;

/**
 * nginx's look-alike, run as /usr/sbin/nginx so its process name is "nginx" (pidof nginx), with
 * "nginx: master process …" on its command line as nginx's master retitles itself, and its pid in
 * /var/run/nginx.pid: what the HostPID, PodPID and ContainerPID specs look for.
 */
const NGINX = `#!/bin/sh
echo $$ > /var/run/nginx.pid
httpd -f -p "\${NGINX_PORT:-80}" -h /usr/share/nginx/html &
trap 'kill $! 2>/dev/null; exit 0' TERM INT QUIT
wait
`;
export const NGINX_TITLE = 'nginx: master process nginx -g daemon off;';

/**
 * Debian's busybox has no pgrep and no ipcs; the specs use them (pgrep sleep, ipcs -m), so the
 * look-alikes carry small stand-ins reading /proc (which shows the reader's IPC namespace).
 */
const PGREP = `#!/bin/sh
# pgrep NAME: the pids whose process name is NAME
found=1
for d in /proc/[0-9]*; do
  read -r comm < "$d/comm" 2>/dev/null || continue
  if [ "$comm" = "$1" ]; then echo "\${d#/proc/}"; found=0; fi
done
exit $found
`;
const IPCS = `#!/bin/sh
# ipcs [-m]: the shared memory segments of this IPC namespace
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      perms      bytes      nattch"
tail -n +2 /proc/sysvipc/shm | while read -r key shmid perms size cpid lpid nattch uid rest; do
  echo "$key $shmid $uid $perms $size $nattch"
done
`;

/** The e2e nonewprivs image's check: a set-uid-root program that prints its effective uid. */
const NNP_SOURCE = `#include <stdio.h>
#include <unistd.h>
int main(void) { printf("Effective uid: %d\\n", (int)geteuid()); return 0; }
`;

/**
 * Debian's dynamically linked busybox (unpacked by scripts/setup --tests), as in the busybox image:
 * its sh runs applets through PATH (busybox-static, built with FEATURE_SH_STANDALONE, runs them
 * in-process, so a masked /bin/ls would still run), and each applet is a hard link (a symlink
 * would make a mask on /bin/ls cover busybox itself).
 */
export const BUSYBOX_DYNAMIC = path.join(process.cwd(), '.tools/busybox-deb/bin/busybox');
/** What it links against, taken from the host (the same Debian release). */
const LIBRARIES = ['lib/x86_64-linux-gnu/libc.so.6', 'lib/x86_64-linux-gnu/libresolv.so.2'];
const LOADER = 'lib/x86_64-linux-gnu/ld-linux-x86-64.so.2';

/**
 * A busybox image's files (Debian's busybox, its libraries, /etc/passwd and /etc/group, the
 * stand-ins above) plus `extra`; `accounts` replaces the passwd and group files.
 */
export async function baseFiles(
  extra: FileSpec[] = [],
  accounts: { passwd: string; group: string } = { passwd: PASSWD, group: GROUP },
): Promise<FileSpec[]> {
  const applets = execFileSync(BUSYBOX_DYNAMIC, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
  return [
    { path: 'bin', type: 'directory', mode: 0o755 },
    { path: 'bin/busybox', content: await readFile(BUSYBOX_DYNAMIC), mode: 0o755 },
    ...applets.map((a) => ({ path: `bin/${a}`, type: 'hardlink' as const, linkname: 'bin/busybox' })),
    { path: 'lib', type: 'directory', mode: 0o755 },
    { path: 'lib/x86_64-linux-gnu', type: 'directory', mode: 0o755 },
    ...(await Promise.all(
      [...LIBRARIES, LOADER].map(async (lib) => ({
        path: lib,
        content: await readFile(`/${lib}`),
        mode: 0o755,
      })),
    )),
    { path: 'lib64', type: 'directory', mode: 0o755 },
    { path: 'lib64/ld-linux-x86-64.so.2', type: 'symlink', linkname: `/${LOADER}` },
    { path: 'etc', type: 'directory', mode: 0o755 },
    { path: 'etc/passwd', content: accounts.passwd, mode: 0o644 },
    { path: 'etc/group', content: accounts.group, mode: 0o644 },
    { path: 'tmp', type: 'directory', mode: 0o1777 },
    { path: 'var', type: 'directory', mode: 0o755 },
    { path: 'var/run', type: 'directory', mode: 0o755 },
    { path: 'home', type: 'directory', mode: 0o755 },
    { path: 'home/default-user', type: 'directory', mode: 0o755 },
    { path: 'usr', type: 'directory', mode: 0o755 },
    { path: 'usr/local', type: 'directory', mode: 0o755 },
    { path: 'usr/local/bin', type: 'directory', mode: 0o755 },
    { path: 'usr/local/bin/serve', content: SERVE, mode: 0o755 },
    { path: 'usr/bin', type: 'directory', mode: 0o755 },
    { path: 'usr/bin/pgrep', content: PGREP, mode: 0o755 },
    { path: 'usr/bin/ipcs', content: IPCS, mode: 0o755 },
    ...extra,
  ];
}

interface Variant {
  /** Full upstream references (registry/path:tag); those with the same path are pushed once. */
  refs: string[];
  user?: string;
  cmd: string[];
  extra?: FileSpec[];
}

export function nginxFiles(): FileSpec[] {
  return [
    { path: 'usr/sbin', type: 'directory', mode: 0o755 },
    { path: 'usr/sbin/nginx', content: NGINX, mode: 0o755 },
    { path: 'usr/share', type: 'directory', mode: 0o755 },
    { path: 'usr/share/nginx', type: 'directory', mode: 0o755 },
    { path: 'usr/share/nginx/html', type: 'directory', mode: 0o755 },
    { path: 'usr/share/nginx/html/index.html', content: '<h1>Welcome to nginx!</h1>\n', mode: 0o644 },
  ];
}

/** One file that makes an image's content (and so its id) its own. */
const marker = (name: string): FileSpec => ({ path: name, content: `${name}\n`, mode: 0o644 });

function variants(nnp: Buffer): Variant[] {
  const t = (name: string): string => `${TEST_IMAGES}/${name}`;
  return [
    { refs: [BUSYBOX], cmd: ['sh'] },
    // Every other image has content of its own: specs count the tags on the image they pulled.
    { refs: [WEBSERVER], cmd: ['/usr/sbin/nginx', NGINX_TITLE], extra: nginxFiles() },
    {
      // networking.go's hostNetWebServerLinuxImage: nginx on port 12003 in the host's network.
      refs: [t('hostnet-nginx-amd64:latest')],
      cmd: ['sh', '-c', 'NGINX_PORT=12003 exec /usr/sbin/nginx "$0"', NGINX_TITLE],
      extra: nginxFiles(),
    },
    {
      refs: ['registry.k8s.io/e2e-test-images/httpd:2.4.39-4'],
      cmd: ['serve', '80', '/usr/local/apache2/htdocs', 'httpd look-alike listening on :80'],
      extra: [
        { path: 'usr/local/apache2', type: 'directory', mode: 0o755 },
        { path: 'usr/local/apache2/htdocs', type: 'directory', mode: 0o755 },
        {
          path: 'usr/local/apache2/htdocs/index.html',
          content: '<html><body><h1>It works!</h1></body></html>\n',
        },
      ],
    },
    {
      refs: ['registry.k8s.io/e2e-test-images/nonewprivs:1.3'],
      cmd: ['/usr/local/bin/nnp'],
      extra: [{ path: 'usr/local/bin/nnp', content: nnp, mode: 0o4755 }],
    },
    { refs: [t('test-image-user-uid:latest')], user: '1002', cmd: ['sh'] },
    { refs: [t('test-image-user-username:latest')], user: 'www-data', cmd: ['sh'] },
    { refs: [t('test-image-user-uid-group:latest')], user: '1003:1003', cmd: ['sh'] },
    { refs: [t('test-image-user-username-group:latest')], user: 'www-data:www-data', cmd: ['sh'] },
    { refs: [t('test-image-predefined-group:latest')], user: '1000', cmd: ['sh'] },
    { refs: [t('test-image-latest:latest')], cmd: ['sh'], extra: [marker('test-image-latest')] },
    { refs: [t('test-image-tag:test')], cmd: ['sh'], extra: [marker('test-image-tag-test')] },
    { refs: [t('test-image-tag:all')], cmd: ['sh'], extra: [marker('test-image-tag-all')] },
    ...[1, 2, 3].map((n) => ({
      refs: [t(`test-image-${n}:latest`)],
      cmd: ['sh'],
      extra: [marker(`image-${n}`)],
    })),
    {
      refs: [t('test-image-tags:1'), t('test-image-tags:2'), t('test-image-tags:3')],
      cmd: ['sh'],
      extra: [marker('test-image-tags')],
    },
    // The same image from two registries (both mirrored to the same loopback repository).
    {
      refs: ['registry.k8s.io/pause:3.9', 'k8s.gcr.io/pause:3.9'],
      cmd: ['sleep', 'infinity'],
      extra: [marker('pause')],
    },
  ];
}

/** Compiles the set-uid check program statically (host gcc and glibc's libc.a). */
export async function buildNnp(work: string): Promise<Buffer> {
  const src = path.join(work, 'nnp.c');
  const bin = path.join(work, 'nnp');
  await writeFile(src, NNP_SOURCE);
  await execFile('gcc', ['-static', '-Os', '-s', '-o', bin, src]);
  return readFile(bin);
}

/** Builds every image and pushes it to `reg` by its upstream path; returns the upstream references. */
export async function pushCritestImages(reg: TestRegistry, work: string): Promise<string[]> {
  const pushed: string[] = [];
  const done = new Set<string>();
  const nnp = await buildNnp(work);
  for (const [i, v] of variants(nnp).entries()) {
    const layout = path.join(work, `critest-image-${i}`);
    await mkdir(layout, { recursive: true });
    await writeOciLayout(layout, 'img', { layers: [{ files: await baseFiles(v.extra) }], cmd: v.cmd });
    if (v.user) {
      await execFile('umoci', ['config', '--image', `${layout}:img`, '--config.user', v.user]);
    }
    for (const ref of v.refs) {
      const slash = ref.indexOf('/');
      const colon = ref.lastIndexOf(':');
      const repo = ref.slice(slash + 1, colon);
      const tag = ref.slice(colon + 1);
      pushed.push(ref);
      if (done.has(`${repo}:${tag}`)) continue;
      done.add(`${repo}:${tag}`);
      await reg.push(layout, 'img', repo, { destTag: tag });
    }
  }
  return pushed;
}
