/**
 * The node's subsystems, built once per berthd from its configuration and handed to the
 * activities (src/activities/context.ts). Opening order matters only for what depends on what;
 * `close` undoes what needs undoing. Nothing here runs a transition: workflows do.
 */
import { join } from 'node:path';
import { SnapshotUsageCache } from './snapshot-usage.js';
import { resolveTool } from './tools.js';
import type { Logger } from '../common/logger.js';
import { FsContentStore } from '../content/index.js';
import type { EventsService } from '../events/service.js';
import { CniNetwork } from '../network/cni.js';
import { loadRegistryConfig, Puller, RegistryClient } from '../registry/index.js';
import { CrunHandler, HandlerRegistry, RuncHandler, RunscHandler } from '../runtime/handler.js';
import { TaskManager } from '../runtime/task.js';
import { PodCgroups } from '../sandbox/cgroups.js';
import { SandboxManager } from '../sandbox/sandbox-manager.js';
import { openSnapshotter, type Snapshotter } from '../snapshots/index.js';
import type { DaemonConfig } from './config.js';
import type { RootLayout } from './layout.js';

export interface NodeServices {
  config: DaemonConfig;
  layout: RootLayout;
  logger: Logger;
  events: EventsService;
  content: FsContentStore;
  registry: RegistryClient;
  puller: Puller;
  snapshotter: Snapshotter;
  network: CniNetwork;
  sandboxes: SandboxManager;
  handlers: HandlerRegistry;
  tasks: TaskManager;
  /** Snapshot disk usage for ImageFsInfo and container stats, measured in batches behind calls. */
  snapshotUsage: SnapshotUsageCache;
}

/** Where each subsystem keeps its files, under the root (persistent) or the state dir (per boot). */
export function subsystemDirs(layout: RootLayout) {
  return {
    snapshotter: (type: string) => join(layout.snapshotsDir, type),
    cniConf: join(layout.root, 'cni', 'net.d'),
    cniCache: join(layout.state, 'cni', 'cache'),
    runtime: join(layout.state, 'runtime'),
    handlerRoot: (name: string) => join(layout.state, name),
  };
}

export async function openNodeServices(
  config: DaemonConfig,
  layout: RootLayout,
  events: EventsService,
  logger: Logger,
): Promise<NodeServices> {
  const dirs = subsystemDirs(layout);
  // conmon execs the runtime by path, so bare names from the config are resolved once here.
  const bin = (name: string) => resolveTool(name) ?? name;
  const registryConfig = config.registryConfig ? await loadRegistryConfig(config.registryConfig) : undefined;
  const registry = new RegistryClient({
    ...(registryConfig ? { config: registryConfig } : {}),
    logger: logger.child({ subsystem: 'registry' }),
  });
  const content = new FsContentStore(layout.root);
  const puller = new Puller({
    client: registry,
    store: content,
    logger: logger.child({ subsystem: 'pull' }),
  });
  const snapshotter = await openSnapshotter(config.snapshotter, dirs.snapshotter(config.snapshotter), {
    crashRoot: layout.root,
  });
  const network = new CniNetwork({
    confDir: config.cniConfDir,
    berthConfDir: dirs.cniConf,
    binDirs: config.cniBinDirs,
    cacheDir: dirs.cniCache,
    logger,
  });
  const sandboxes = new SandboxManager({
    stateDir: layout.state,
    network,
    cgroups: await PodCgroups.detect(),
    logger,
  });
  const handlers = new HandlerRegistry([
    new RuncHandler({
      binary: bin(config.binaries.runc),
      root: dirs.handlerRoot('runc'),
      criu: bin(config.binaries.criu),
    }),
    new RuncHandler(
      {
        binary: bin(config.binaries.runcDebian),
        root: dirs.handlerRoot('runc-debian'),
        criu: bin(config.binaries.criu),
      },
      'runc-debian',
    ),
    new CrunHandler({
      binary: bin(config.binaries.crun),
      root: dirs.handlerRoot('crun'),
      wrapperDir: join(dirs.runtime, 'wrappers'),
    }),
    new RunscHandler({ binary: bin(config.binaries.runsc), root: dirs.handlerRoot('runsc') }),
  ]);
  const tasks = new TaskManager({
    root: dirs.runtime,
    handlers,
    conmonPath: bin(config.binaries.conmon),
    logger,
    crashRoot: layout.root,
  });
  return {
    config,
    layout,
    logger,
    events,
    content,
    registry,
    puller,
    snapshotter,
    network,
    sandboxes,
    handlers,
    tasks,
    snapshotUsage: new SnapshotUsageCache(snapshotter, undefined, undefined, (err) =>
      logger.warn({ err }, 'measuring snapshot disk usage failed; writable layers keep their last measure'),
    ),
  };
}
