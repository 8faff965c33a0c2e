#!/usr/bin/env node
// Builds Berth: CRI message types generated from cri-api's api.proto (when setup fetched it),
// TypeScript compiled to dist/, and the workflow code bundled once into dist/workflow-bundle.js
// so berthd never bundles at start-up.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const versions = readFileSync(join(root, 'scripts/versions.sh'), 'utf8');
const criApiVersion = /CRI_API_VERSION=(\S+)/.exec(versions)[1];
const bin = (name) => join(root, 'node_modules/.bin', name);
const timed = (label, fn) => {
  const t0 = performance.now();
  fn();
  console.log(`build: ${label} (${((performance.now() - t0) / 1000).toFixed(1)}s)`);
};

const proto = join(root, `.tools/cri-api/v${criApiVersion}/api.proto`);
const generated = join(root, 'src/cri/generated');
if (existsSync(proto)) {
  timed('CRI types from api.proto', () => {
    rmSync(generated, { recursive: true, force: true });
    mkdirSync(generated, { recursive: true });
    execFileSync(
      bin('proto-loader-gen-types'),
      [
        '--grpcLib=@grpc/grpc-js',
        '--outDir',
        generated,
        '--keepCase',
        '--longs=Number',
        '--enums=String',
        '--defaults',
        '--oneofs',
        '--importFileExtension=.js',
        proto,
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    writeFileSync(
      join(generated, 'proto-path.ts'),
      `export const CRI_PROTO_PATH = ${JSON.stringify(proto)};\n`,
    );
  });
}

// Incremental: dist/ is kept between builds and tsc recompiles only what changed.
timed('typescript', () => {
  execFileSync(
    bin('tsc'),
    [
      '-p',
      join(root, 'tsconfig.build.json'),
      '--incremental',
      '--tsBuildInfoFile',
      join(root, 'dist/.tsbuildinfo'),
    ],
    {
      stdio: 'inherit',
    },
  );
});
for (const entry of ['dist/src/daemon/main.js', 'dist/src/cli/main.js']) chmodSync(join(root, entry), 0o755);

// The native helper program (src/snapshots/idmap-mount.c): idmapped mounts for user-namespaced pods.
timed('idmap mount helper', () => {
  mkdirSync(join(root, 'dist/bin'), { recursive: true });
  execFileSync(
    'cc',
    [
      '-O2',
      '-Wall',
      '-Werror',
      '-o',
      join(root, 'dist/bin/berth-idmap-mount'),
      join(root, 'src/snapshots/idmap-mount.c'),
    ],
    {
      stdio: 'inherit',
    },
  );
});

// The Node-API addons: who is calling on berthd's sockets (src/common/peer-credentials.c), and
// mount(2)/umount2(2) for container rootfs mounts (src/common/mount-syscall.c).
for (const [what, source, out] of [
  ['peer credentials addon', 'src/common/peer-credentials.c', 'peer-credentials.node'],
  ['mount addon', 'src/common/mount-syscall.c', 'mount-syscall.node'],
]) {
  timed(what, () => {
    const nodeHeaders = join(dirname(process.execPath), '../include/node');
    execFileSync(
      'cc',
      [
        '-O2',
        '-Wall',
        '-Werror',
        '-shared',
        '-fPIC',
        `-I${existsSync(nodeHeaders) ? nodeHeaders : '/usr/include/node'}`,
        '-o',
        join(root, 'dist/bin', out),
        join(root, source),
      ],
      { stdio: 'inherit' },
    );
  });
}

const { bundleWorkflowCode } = await import('@temporalio/worker');
const t0 = performance.now();
const { code } = await bundleWorkflowCode({
  workflowsPath: join(root, 'dist/src/workflows/index.js'),
  // Carries the request's caller from the workflow onto its activities (src/workflows/caller-propagation.ts).
  workflowInterceptorModules: [join(root, 'dist/src/workflows/caller-propagation.js')],
  logger: { trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error, log() {} },
});
// Written aside and renamed, so a running berthd or a concurrent build never sees half a bundle.
writeFileSync(join(root, 'dist/workflow-bundle.js.tmp'), code);
renameSync(join(root, 'dist/workflow-bundle.js.tmp'), join(root, 'dist/workflow-bundle.js'));
console.log(`build: workflow bundle (${((performance.now() - t0) / 1000).toFixed(1)}s)`);
writeFileSync(join(root, 'dist/.build-stamp'), new Date().toISOString() + '\n');
