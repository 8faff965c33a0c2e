/**
 * berthd's lifecycle: validate what it was given, take the root, start (or reach) Temporal and
 * NATS, run the worker, serve the API; and undo all of it, in reverse, on stop.
 */
import { mkdir } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import { UnavailableError } from '../common/errors.js';
import { berthVersion } from '../common/version.js';
import type { Logger } from '../common/logger.js';
import { createActivities } from '../activities/index.js';
import { runtimeVersions, type RuntimeVersion } from '../activities/node-info.js';
import { ApiServer } from '../api/server.js';
import { Router } from '../api/router.js';
import { infoRoutes } from '../api/routes/info.js';
import { demoRoutes } from '../api/routes/demo.js';
import { eventRoutes } from '../api/routes/events.js';
import { containerRoutes } from '../api/routes/containers.js';
import { imageRoutes } from '../api/routes/images.js';
import { sandboxRoutes } from '../api/routes/sandboxes.js';
import { EventsService } from '../events/service.js';
import { openNodeServices, type NodeServices } from './node-services.js';
import type { NodeInfo, ServiceInfo } from '../api/types.js';
import type { NodeInfoResult } from '../workflows/node-info.js';
import type { DaemonConfig } from './config.js';
import { checkWritable, createLayout, rootLayout, type RootLayout } from './layout.js';
import { RootLock } from './lock.js';
import { resolveBinaries } from './tools.js';
import { startMetrics, type DaemonMetrics } from './metrics.js';
import { startEmbeddedServices, type EmbeddedServices } from './embedded.js';
import { connectTemporal, probeTemporal, taskQueueFor } from './temporal.js';
import { probeNats } from './nats.js';
import { NodeIdClaim } from './node-claim.js';
import { registerSearchAttributes } from './search-attributes.js';
import { sleep, type SupervisedService } from './supervisor.js';
import { TransitionRunner } from './transitions.js';
import { ImageService } from './images.js';
import { SandboxService } from './sandboxes.js';
import { ContainerService } from './containers.js';
import { startCriGateway, type CriGateway } from '../cri/berth/gateway.js';
import { ExitMonitor } from './exit-monitor.js';
import { ExitSignalGate } from './exit-signal-gate.js';
import { recordLostSnapshots } from './lost-snapshots.js';
import { testHooksEnabled } from '../common/crash-hooks.js';
import { crashHookInterceptor } from './test-hooks.js';
import { stepTimingInterceptor } from './step-timing.js';
import { Spawner } from '../common/spawner.js';
import { prestartLayerDecoder } from '../unpack/index.js';
import { spawnerInUse, useSpawner } from '../common/exec.js';

export const BERTHD_VERSION = berthVersion();

const EXTERNAL_PROBE_TIMEOUT_MS = 5_000;
const INFO_PROBE_TIMEOUT_MS = 2_000;

export class Daemon {
  private services: EmbeddedServices | undefined;
  private lock: RootLock | undefined;
  private spawner: Spawner | undefined;
  private claim: NodeIdClaim | undefined;
  private connection: NativeConnection | undefined;
  private client: Client | undefined;
  readonly transitions: TransitionRunner;
  readonly sandboxes: SandboxService;
  readonly containers: ContainerService;
  private worker: Worker | undefined;
  private workerRun: Promise<void> | undefined;
  private readonly api: ApiServer;
  private readonly router: Router;
  private events: EventsService | undefined;
  private node: NodeServices | undefined;
  private imageService: ImageService | undefined;
  private stopping = false;
  private exitMonitor: ExitMonitor | undefined;
  /** Holds the exit monitor's signal while a stop runs local steps (sinks of the worker). */
  private readonly exitSignals = new ExitSignalGate();
  private cri: CriGateway | undefined;
  private runtimes: RuntimeVersion[] = [];
  private metrics: DaemonMetrics | undefined;
  readonly layout: RootLayout;
  readonly taskQueue: string;
  readonly startedAt = new Date().toISOString();

  private constructor(
    readonly config: DaemonConfig,
    private readonly log: Logger,
  ) {
    this.layout = rootLayout(config);
    this.taskQueue = taskQueueFor(config.nodeId);
    this.transitions = new TransitionRunner(
      () => {
        if (!this.client) throw new UnavailableError('berthd is not connected to Temporal');
        return this.client;
      },
      this.taskQueue,
      config.nodeId,
      log.child({ component: 'transitions' }),
    );
    this.sandboxes = new SandboxService(this.transitions, () => this.node);
    this.containers = new ContainerService(
      this.transitions,
      () => this.nodeServices(),
      () => this.imageService,
      () => this.sandboxes,
    );
    this.router = new Router().add(...infoRoutes(this));
    this.router.add(...containerRoutes(this));
    if (testHooksEnabled()) this.router.add(...demoRoutes(this));
    this.router.add(...imageRoutes(this));
    this.router.add(...sandboxRoutes(this.sandboxes));
    this.api = new ApiServer(this.router, log.child({ component: 'api' }));
  }

  static async start(config: DaemonConfig, log: Logger): Promise<Daemon> {
    // Checked before anything starts: a missing program is named with the command that installs it.
    const daemon = new Daemon({ ...config, binaries: resolveBinaries(config) }, log);
    try {
      await daemon.startup();
    } catch (err) {
      await daemon.stop();
      throw err;
    }
    return daemon;
  }

  private async startup(): Promise<void> {
    const { config, layout } = this;
    // Everything that can be checked without writing is checked first, so bad input changes nothing.
    await this.checkExternalServices();
    // With shared NATS, the node id is claimed before anything is written: a refusal changes nothing.
    if (config.natsUrl) await this.claimNodeId(config.natsUrl);
    await checkWritable(layout.root, '--root');
    await checkWritable(layout.state, '--state');
    await mkdir(layout.root, { recursive: true, mode: 0o711 });
    this.lock = await RootLock.acquire(layout.lockFile);
    await createLayout(layout);
    // Forked while this process is still small; every program berthd runs later forks from it.
    this.spawner = await Spawner.start();
    useSpawner(this.spawner);
    // Started now rather than by the first large layer, which would wait tens of milliseconds for it.
    prestartLayerDecoder();

    // The log opens before any service starts (a foreign or damaged log is refused with nothing
    // started) and before the worker (no activity runs without it); its relay starts once NATS is up.
    this.events = await EventsService.open({
      dir: layout.eventsDir,
      nodeId: config.nodeId,
      logger: this.log.child({ component: 'events' }),
    });
    this.router.add(...eventRoutes(this.events));
    this.services = await startEmbeddedServices(config, layout, this.log.child({ component: 'embedded' }));
    if (!this.claim) await this.claimNodeId(this.services.natsUrl);
    await this.events.startRelay(this.services.natsUrl, config.natsReplicas);
    this.node = await openNodeServices(config, layout, this.events, this.log);
    // Before the worker and the CRI gateway, whose hooks it is.
    if (config.metricsAddress)
      this.metrics = await startMetrics(
        config.metricsAddress,
        { events: this.events, node: this.node, transitions: this.transitions, api: this.api },
        this.log.child({ component: 'metrics' }),
      );
    await recordLostSnapshots(this.node);
    this.imageService = new ImageService(this.transitions, this.node);
    await registerSearchAttributes(this.services.temporalAddress, config.temporalNamespace);
    await this.connectWorker();
    this.runtimes = (await this.runNodeInfoWorkflow()).runtimes;
    // After the worker (a stop workflow can be woken), before the API: exits that happened while
    // berthd was down are recorded before anyone can ask.
    this.exitMonitor = new ExitMonitor(
      this.node,
      () => this.client,
      this.log.child({ component: 'exits' }),
      this.exitSignals,
    );
    await this.exitMonitor.start();
    // Teardowns a crash interrupted are finished before the API answers.
    await this.sandboxes
      .reconcile()
      .catch((err: unknown) => this.log.error({ err }, 'sandbox reconcile failed'));
    // After the worker (every mutating CRI call runs a workflow), before the API socket says ready.
    this.cri = await startCriGateway(
      {
        images: () => this.images,
        sandboxes: this.sandboxes,
        containers: this.containers,
        node: () => this.nodeServices(),
      },
      config.criSocket,
      this.log.child({ component: 'cri' }),
      this.metrics?.onCriCall,
    );
    await this.api.listen(config.apiSocket);
    this.log.info(
      {
        nodeId: config.nodeId,
        apiSocket: config.apiSocket,
        temporal: this.services.temporalAddress,
        nats: this.services.natsUrl,
        ...(this.metrics ? { metrics: this.metrics.server.url } : {}),
      },
      'berthd ready',
    );
  }

  private async checkExternalServices(): Promise<void> {
    const { temporalAddress, temporalNamespace, natsUrl } = this.config;
    const [t, n] = await Promise.all([
      temporalAddress
        ? probeTemporal(temporalAddress, temporalNamespace, EXTERNAL_PROBE_TIMEOUT_MS)
        : undefined,
      natsUrl ? probeNats(natsUrl, EXTERNAL_PROBE_TIMEOUT_MS) : undefined,
    ]);
    if (t && !t.ok)
      throw new UnavailableError(
        `cannot reach Temporal at --temporal-address ${temporalAddress}: ${t.error}`,
      );
    if (n && !n.ok) throw new UnavailableError(`cannot reach NATS at --nats-url ${natsUrl}: ${n.error}`);
  }

  private async claimNodeId(natsUrl: string): Promise<void> {
    this.claim = await NodeIdClaim.take(
      this.config,
      natsUrl,
      BERTHD_VERSION,
      () => ({
        logSeq: this.events?.log.lastSeq ?? 0,
        relayedSeq: this.events?.relay?.status().cursor ?? 0,
      }),
      this.log.child({ component: 'registry' }),
    );
  }

  /** Runs the worker; if it fails (e.g. Temporal was unreachable too long), a new one replaces it. */
  private runWorker(worker: Worker): void {
    this.worker = worker;
    this.workerRun = worker.run().catch(async (err: unknown) => {
      if (this.stopping) return;
      this.log.error({ err }, 'Temporal worker failed; starting a new one');
      await sleep(1_000);
      if (!this.stopping) await this.connectWorker();
    });
  }

  private async connectWorker(): Promise<void> {
    const { config, services } = this;
    const activities = createActivities(this.node!);
    const interceptors = [
      crashHookInterceptor(config.root),
      stepTimingInterceptor(this.log, this.metrics?.onStep),
    ].filter((i) => i !== undefined);
    const handles = await connectTemporal(
      services!.temporalAddress,
      config.temporalNamespace,
      this.taskQueue,
      activities,
      this.log,
      interceptors,
      { ...this.transitions.sinks, ...this.exitSignals.sinks },
    );
    this.connection = handles.connection;
    this.client = handles.client;
    this.runWorker(handles.worker);
  }

  private nodeServices(): NodeServices {
    if (!this.node) throw new UnavailableError('berthd has not opened its subsystems yet');
    return this.node;
  }

  /** Images (pull, list, remove, …); available once the node's subsystems are open. */
  get images(): ImageService {
    if (!this.imageService)
      throw new UnavailableError('berthd is still starting: images are not available yet');
    return this.imageService;
  }

  runDemo(req: { id: string; refuseAt?: string }): Promise<unknown> {
    return this.transitions.run({
      workflowType: 'demoTransition',
      workflowId: `demo:${req.id}`,
      args: [req],
      onFinished: 'recorded',
    });
  }

  async runNodeInfoWorkflow(): Promise<NodeInfoResult> {
    if (!this.client) throw new UnavailableError('berthd is not connected to Temporal');
    return this.client.workflow.execute('nodeInfo', {
      taskQueue: this.taskQueue,
      workflowId: `node:${this.config.nodeId}:info:${randomUUID()}`,
      args: [this.config.nodeId],
      requestEagerStart: true,
    });
  }

  async info(): Promise<NodeInfo> {
    const { config, services } = this;
    const temporalAddress = services?.temporalAddress ?? config.temporalAddress ?? '';
    const natsUrl = services?.natsUrl ?? config.natsUrl ?? '';
    const [t, n] = await Promise.all([
      probeTemporal(temporalAddress, config.temporalNamespace, INFO_PROBE_TIMEOUT_MS),
      probeNats(natsUrl, INFO_PROBE_TIMEOUT_MS),
    ]);
    const service = (
      name: string,
      address: string,
      probe: typeof t,
      supervised?: SupervisedService,
    ): ServiceInfo => ({
      name,
      version: probe.version ?? 'unknown',
      address,
      mode: supervised ? 'embedded' : 'external',
      health: probe.ok ? 'healthy' : supervised?.state === 'starting' ? 'starting' : 'unhealthy',
      detail: probe.ok
        ? supervised
          ? `pid ${supervised.pid}, restarts ${supervised.restarts}`
          : undefined
        : probe.error,
      restarts: supervised?.restarts,
    });
    return {
      nodeId: config.nodeId,
      berthdVersion: BERTHD_VERSION,
      pid: process.pid,
      startedAt: this.startedAt,
      taskQueue: this.taskQueue,
      paths: {
        root: config.root,
        state: config.state,
        apiSocket: config.apiSocket,
        criSocket: config.criSocket,
      },
      runtimes: this.runtimes.length ? this.runtimes : await runtimeVersions(config.binaries),
      services: [
        service('temporal', temporalAddress, t, services?.temporal),
        service('nats', natsUrl, n, services?.nats),
      ],
      temporalUi: services?.temporalUi,
      ...(this.metrics ? { metrics: this.metrics.server.url } : {}),
      events: this.events && {
        lastSeq: this.events.log.lastSeq,
        relay: this.events.relay?.status(),
        signing: this.events.signingInfo(),
      },
    };
  }

  /** Stops everything this daemon started, in reverse order; safe to call more than once. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.api
      .close(this.config.apiSocket)
      .catch((err: unknown) => this.log.warn({ err }, 'closing the API failed'));
    await this.cri?.close().catch((err: unknown) => this.log.warn({ err }, 'closing the CRI gateway failed'));
    this.cri = undefined;
    await this.metrics
      ?.close()
      .catch((err: unknown) => this.log.warn({ err }, 'closing the metrics endpoint failed'));
    this.metrics = undefined;
    await this.exitMonitor?.stop();
    if (this.worker && this.worker.getState() === 'RUNNING') this.worker.shutdown();
    await this.workerRun?.catch(() => undefined);
    // Nothing commits any more: what the sync behind the commits has not yet written goes now.
    await this.node?.snapshotter
      .flush()
      .catch((err: unknown) => this.log.warn({ err }, 'syncing the snapshots failed'));
    await this.imageService?.close().catch(() => undefined);
    await this.connection?.close().catch(() => undefined);
    // After the worker (nothing appends any more), before NATS (the relay flushes what it can).
    await this.events
      ?.close()
      .catch((err: unknown) => this.log.warn({ err }, 'closing the event log failed'));
    // Its final positions are still in memory: the record says where the log and the relay ended.
    await this.claim?.release(this.log);
    this.claim = undefined;
    this.events = undefined;
    await Promise.all([this.services?.temporal?.stop(), this.services?.nats?.stop()]);
    if (spawnerInUse() === this.spawner) useSpawner(undefined);
    this.spawner?.stop();
    this.spawner = undefined;
    await this.lock?.release();
    this.lock = undefined;
  }
}
