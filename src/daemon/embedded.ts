/**
 * The embedded services berthd starts when no address is configured: a Temporal dev server with
 * its SQLite database under the root (so workflow histories survive restarts) and a nats-server
 * with JetStream storing under the root, each on a recorded loopback port.
 */
import { join } from 'node:path';
import { UnavailableError } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import type { DaemonConfig } from './config.js';
import type { RootLayout } from './layout.js';
import {
  readRecordedEndpoints,
  assignPorts,
  reassignPorts,
  saveEndpoints,
  isPortFree,
  type EmbeddedEndpoints,
} from './endpoints.js';
import { ServiceExitedDuringStartup, SupervisedService, sleep, type ServiceSpec } from './supervisor.js';
import { processStartTicks } from './lock.js';
import { devServerArgs, probeTemporal } from './temporal.js';
import { probeNats } from './nats.js';

const START_TIMEOUT_MS = 60_000;
const PROBE_TIMEOUT_MS = 2_000;
/**
 * WAL with synchronous=NORMAL: a process crash loses no Temporal commit, a power loss may lose the
 * last ones, which re-run idempotent steps (Berth's own event log is synced). docs/architecture.md
 * has the latency this buys.
 */
const SQLITE_PRAGMAS = ['journal_mode=wal', 'synchronous=NORMAL'];
/**
 * A berthd killed while it holds a workflow task (local activities run inside one) leaves the task
 * to time out; after 3 such attempts the server adds an exponential delay, up to 10 minutes by
 * default, before it hands the task out again. Bound that delay so a node recovers from repeated
 * crashes in one transition in seconds rather than minutes.
 */
const DYNAMIC_CONFIG = { 'history.workflowTaskRetryMaxInterval': '5s' };

export interface EmbeddedServices {
  temporal?: SupervisedService;
  nats?: SupervisedService;
  temporalAddress: string;
  natsUrl: string;
  /** `http://127.0.0.1:<port>` of the embedded Temporal server's Web UI, when --temporal-ui-port is set. */
  temporalUi?: string;
}

/** Starts of a child that dies before it is healthy; each retry gives it fresh ports. */
const START_ATTEMPTS = 3;

type ServiceKey = 'temporal' | 'nats';

export async function startEmbeddedServices(
  config: DaemonConfig,
  layout: RootLayout,
  log: Logger,
): Promise<EmbeddedServices> {
  const recorded = await readRecordedEndpoints(layout.endpointsFile);
  await reapSurvivors(recorded, log);
  const uiPort = config.temporalAddress ? undefined : config.temporalUiPort;
  // The operator chose this port: taken, it is refused here rather than moved or retried.
  if (uiPort !== undefined && !(await isPortFree(uiPort))) throw uiPortTaken(uiPort);
  const endpoints = await assignPorts(recorded, uiPort);
  const result: EmbeddedServices = {
    temporalAddress: config.temporalAddress ?? temporalAddress(endpoints),
    natsUrl: config.natsUrl ?? natsUrl(endpoints),
    ...(uiPort !== undefined ? { temporalUi: `http://127.0.0.1:${uiPort}` } : {}),
  };
  const keys: ServiceKey[] = [];
  if (!config.temporalAddress) keys.push('temporal');
  if (!config.natsUrl) keys.push('nats');
  // Both services' starts write the one file: serialise, so the newest content is renamed last.
  let saving = Promise.resolve();
  const save = () => (saving = saving.then(() => saveEndpoints(layout.endpointsFile, endpoints)));
  const record = async () => {
    if (result.temporal) Object.assign(endpoints.temporal, pidRecord(result.temporal.pid));
    if (result.nats) Object.assign(endpoints.nats, pidRecord(result.nats.pid));
    await save();
  };

  const startOne = async (key: ServiceKey): Promise<void> => {
    for (let attempt = 1; ; attempt++) {
      await save();
      const service = (result[key] = new SupervisedService(serviceSpec(key, config, layout, endpoints), log));
      try {
        await service.start();
        return;
      } catch (err) {
        await service.stop();
        if (!(err instanceof ServiceExitedDuringStartup)) throw err;
        // The dev server exits when it cannot bind its UI ("can't set UI port"): fresh ports for
        // the others would not help, and the operator's port is not ours to move.
        if (key === 'temporal' && uiPort !== undefined && !(await isPortFree(uiPort)))
          throw uiPortTaken(uiPort, err.message);
        if (attempt >= START_ATTEMPTS) throw err;
        // Another process may have bound one of its ports between our choice and its bind.
        log.warn(
          { service: key, attempt, err: err.message },
          'embedded service exited during startup; retrying on fresh ports',
        );
        await reassignPorts(endpoints, key);
      }
    }
  };
  const started = await Promise.allSettled(keys.map(startOne));
  const failure = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failure) {
    await Promise.all([result.temporal?.stop(), result.nats?.stop()]);
    throw failure.reason;
  }
  // Retries may have moved an embedded service to other ports.
  result.temporalAddress = config.temporalAddress ?? temporalAddress(endpoints);
  result.natsUrl = config.natsUrl ?? natsUrl(endpoints);
  await record();
  for (const key of keys) result[key]!.on('restarted', () => void record());
  return result;
}

function uiPortTaken(port: number, exited?: string): UnavailableError {
  return new UnavailableError(
    `--temporal-ui-port ${port}: 127.0.0.1:${port} is already in use by another process; ` +
      `choose a free port, or stop what listens there (ss -ltnp 'sport = :${port}' names it)` +
      (exited ? `; ${exited}` : ''),
  );
}

function temporalAddress(endpoints: EmbeddedEndpoints): string {
  return `127.0.0.1:${endpoints.temporal.frontendPort}`;
}

function natsUrl(endpoints: EmbeddedEndpoints): string {
  return `nats://127.0.0.1:${endpoints.nats.clientPort}`;
}

/** The child's command line and health probe, on the ports `endpoints` holds now. */
function serviceSpec(
  key: ServiceKey,
  config: DaemonConfig,
  layout: RootLayout,
  endpoints: EmbeddedEndpoints,
): ServiceSpec {
  const logFile = join(layout.logsDir, `${key}.log`);
  if (key === 'temporal') {
    const address = temporalAddress(endpoints);
    const uiPort = endpoints.temporal.uiPort;
    return {
      name: key,
      command: config.binaries.temporal,
      args: devServerArgs({
        ports: endpoints.temporal,
        dbFile: join(layout.temporalDir, 'temporal.db'),
        namespace: config.temporalNamespace,
        logLevel: 'warn',
        sqlitePragmas: SQLITE_PRAGMAS,
        dynamicConfig: DYNAMIC_CONFIG,
        uiPort,
      }),
      logFile,
      // With a UI, healthy once it answers too (tens of milliseconds after the frontend), so the
      // address `berth info` prints serves as soon as berthd is ready.
      healthy: async () =>
        (await probeTemporal(address, config.temporalNamespace, PROBE_TIMEOUT_MS)).ok &&
        (uiPort === undefined || (await answersHttp(`http://127.0.0.1:${uiPort}/`, PROBE_TIMEOUT_MS))),
      startTimeoutMs: START_TIMEOUT_MS,
    };
  }
  const url = natsUrl(endpoints);
  return {
    name: key,
    command: config.binaries.natsServer,
    args: [
      '-js',
      '-sd',
      layout.natsDir,
      '-a',
      '127.0.0.1',
      '-p',
      String(endpoints.nats.clientPort),
      '-n',
      `berth-${config.nodeId}`,
    ],
    logFile,
    healthy: async () => (await probeNats(url, PROBE_TIMEOUT_MS)).ok,
    startTimeoutMs: START_TIMEOUT_MS,
  };
}

/** True once something answers HTTP at `url`, whatever its status; never throws. */
async function answersHttp(url: string, timeoutMs: number): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return true;
  } catch {
    return false;
  }
}

function pidRecord(pid: number | undefined): { pid?: number; startTicks?: string } {
  return pid === undefined ? {} : { pid, startTicks: processStartTicks(pid) };
}

/**
 * A berthd killed with SIGKILL takes its children down through PDEATHSIG, but they may still be
 * shutting down (releasing ports and the SQLite file) when the next berthd starts: wait for them.
 */
async function reapSurvivors(endpoints: Partial<EmbeddedEndpoints>, log: Logger): Promise<void> {
  let temporalReaped = false;
  for (const rec of [endpoints.temporal, endpoints.nats]) {
    if (rec?.pid === undefined || rec.startTicks === undefined) continue;
    const alive = () => processStartTicks(rec.pid!) === rec.startTicks;
    if (!alive()) continue;
    if (rec === endpoints.temporal) temporalReaped = true;
    log.warn({ pid: rec.pid }, 'embedded service from a previous berthd still running; stopping it');
    process.kill(rec.pid, 'SIGTERM');
    for (let i = 0; i < 100 && alive(); i++) await sleep(100);
    if (alive()) process.kill(rec.pid, 'SIGKILL');
    for (let i = 0; i < 50 && alive(); i++) await sleep(100);
  }
  // The UI's port only behind a Temporal child just stopped: anyone else holding it is not ours to wait for.
  const uiPort = temporalReaped ? endpoints.temporal?.uiPort : undefined;
  for (const port of [endpoints.temporal?.frontendPort, uiPort, endpoints.nats?.clientPort]) {
    if (port === undefined) continue;
    for (let i = 0; i < 50 && !(await isPortFree(port)); i++) await sleep(100);
  }
}
