/**
 * Look-alike images for critest v1.36, built from Debian's busybox-static and pushed to a
 * loopback registry under the paths critest uses (it replaces the registry host with
 * `--registry-prefix`): the e2e busybox and nginx, and cri-tools' test-image-* family (users
 * and groups in the config, tags that name one or several images).
 */
import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { execFile } from '../../../src/common/exec.js';
import { busyboxBinary, writeOciLayout, type FileSpec } from '../../helpers/oci-images.js';
import type { TestRegistry } from '../../helpers/registry.js';

export const BUSYBOX = 'e2e-test-images/busybox:1.29-2';
export const WEBSERVER = 'e2e-test-images/nginx:1.14-2';
const TEST_IMAGES = 'k8s-staging-cri-tools';

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

async function baseFiles(extra: FileSpec[] = []): Promise<FileSpec[]> {
  const applets = execFileSync('/bin/busybox', ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
  return [
    { path: 'bin', type: 'directory', mode: 0o755 },
    { path: 'bin/busybox', content: await busyboxBinary(), mode: 0o755 },
    ...applets.map((a) => ({ path: `bin/${a}`, type: 'symlink' as const, linkname: 'busybox' })),
    { path: 'etc', type: 'directory', mode: 0o755 },
    { path: 'etc/passwd', content: PASSWD, mode: 0o644 },
    { path: 'etc/group', content: GROUP, mode: 0o644 },
    { path: 'tmp', type: 'directory', mode: 0o1777 },
    { path: 'var', type: 'directory', mode: 0o755 },
    { path: 'home', type: 'directory', mode: 0o755 },
    { path: 'home/default-user', type: 'directory', mode: 0o755 },
    ...extra,
  ];
}

interface Variant {
  /** Repository path under the prefix, with its tag. */
  refs: string[];
  user?: string;
  cmd: string[];
  extra?: FileSpec[];
}

function variants(): Variant[] {
  const t = (name: string): string => `${TEST_IMAGES}/${name}`;
  return [
    { refs: [BUSYBOX], cmd: ['sh'] },
    {
      refs: [WEBSERVER],
      cmd: ['httpd', '-f', '-p', '80', '-h', '/www'],
      extra: [
        { path: 'www', type: 'directory', mode: 0o755 },
        { path: 'www/index.html', content: '<h1>Welcome to nginx!</h1>\n', mode: 0o644 },
      ],
    },
    { refs: [t('test-image-user-uid:latest')], user: '1002', cmd: ['sh'] },
    { refs: [t('test-image-user-username:latest')], user: 'www-data', cmd: ['sh'] },
    { refs: [t('test-image-user-uid-group:latest')], user: '1003:1003', cmd: ['sh'] },
    { refs: [t('test-image-user-username-group:latest')], user: 'www-data:www-data', cmd: ['sh'] },
    { refs: [t('test-image-predefined-group:latest')], user: '1000', cmd: ['sh'] },
    { refs: [t('test-image-latest:latest'), t('test-image-tag:test'), t('test-image-tag:all')], cmd: ['sh'] },
    ...[1, 2, 3].map((n) => ({
      refs: [t(`test-image-${n}:latest`)],
      cmd: ['sh'],
      extra: [{ path: `image-${n}`, content: `image ${n}\n`, mode: 0o644 }],
    })),
    { refs: [t('test-image-tags:1'), t('test-image-tags:2'), t('test-image-tags:3')], cmd: ['sh'] },
    // registry.k8s.io/pause:3.9 and k8s.gcr.io/pause:3.9 both become <prefix>/pause:3.9.
    { refs: ['pause:3.9'], cmd: ['sleep', 'infinity'] },
  ];
}

/** Builds every image and pushes it to `reg`; returns the references critest will ask for. */
export async function pushCritestImages(reg: TestRegistry, work: string): Promise<string[]> {
  const pushed: string[] = [];
  const latestDone = new Set<string>();
  for (const [i, v] of variants().entries()) {
    const layout = path.join(work, `critest-image-${i}`);
    await mkdir(layout, { recursive: true });
    await writeOciLayout(layout, 'img', { layers: [{ files: await baseFiles(v.extra) }], cmd: v.cmd });
    if (v.user) {
      await execFile('umoci', ['config', '--image', `${layout}:img`, '--config.user', v.user]);
    }
    // critest's PrepareImageName drops the tag whenever --registry-prefix is not the default
    // (it keeps only the repository path, then appends :latest), so every repository also
    // needs :latest (the first image pushed to it).
    for (const ref of v.refs) {
      const colon = ref.lastIndexOf(':');
      const repo = ref.slice(0, colon);
      const tags = [ref.slice(colon + 1), ...(latestDone.has(repo) ? [] : ['latest'])];
      latestDone.add(repo);
      for (const tag of new Set(tags)) {
        await reg.push(layout, 'img', repo, { destTag: tag });
        pushed.push(`${reg.host}/${repo}:${tag}`);
      }
    }
  }
  return pushed;
}
