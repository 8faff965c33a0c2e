/**
 * berthd's Temporal side: one NativeConnection shared by the client and the worker (which is what
 * lets the server hand a workflow's first task straight back to this worker: eager start), a worker
 * on the node's task queue running the pre-built workflow bundle, and probes used for health.
 */
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { Client, Connection, type WorkflowClientInterceptor } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import {
  NativeConnection,
  Worker,
  Runtime,
  makeTelemetryFilterString,
  type ActivityInterceptorsFactory,
  type InjectedSinks,
} from '@temporalio/worker';
import type { Sinks } from '@temporalio/workflow';
// The SDK's workflow-sandbox hooks: not in its public API (see stopWorkflowPromiseHook).
import { globalHandlers } from '@temporalio/worker/lib/workflow/vm-shared.js';
import { UnavailableError, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logger.js';
import { currentCaller } from '../common/caller.js';
import { callerInterceptor } from '../activities/context.js';
import { CALLER_HEADER } from '../workflows/caller-propagation.js';

/** The workflow code, bundled at build time by scripts/build.mjs (never at daemon start). */
export const WORKFLOW_BUNDLE = fileURLToPath(new URL('../../workflow-bundle.js', import.meta.url));

/** How a Temporal dev server (`temporal server start-dev`) is run on loopback. */
export interface DevServerOptions {
  ports: { frontendPort: number; httpPort: number; metricsPort: number };
  dbFile: string;
  logLevel: 'warn' | 'error';
  namespace?: string;
  /** `--sqlite-pragma` values, e.g. `journal_mode=wal`. */
  sqlitePragmas?: readonly string[];
  /** `--dynamic-config-value KEY=JSON` pairs. */
  dynamicConfig?: Readonly<Record<string, string>>;
  /** The Web UI's port, on 127.0.0.1 like the frontend; undefined = headless (no UI). */
  uiPort?: number;
}

export function devServerArgs(o: DevServerOptions): string[] {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1'];
  // Without --headless the dev server serves its UI on --ip, port --port + 1000 unless told otherwise:
  // both are given, so the UI never lands on an address nobody chose.
  if (o.uiPort === undefined) args.push('--headless');
  else args.push('--ui-ip', '127.0.0.1', '--ui-port', String(o.uiPort));
  args.push('--port', String(o.ports.frontendPort), '--http-port', String(o.ports.httpPort));
  args.push('--metrics-port', String(o.ports.metricsPort), '--db-filename', o.dbFile);
  if (o.namespace) args.push('--namespace', o.namespace);
  args.push('--log-level', o.logLevel);
  for (const p of o.sqlitePragmas ?? []) args.push('--sqlite-pragma', p);
  for (const [key, value] of Object.entries(o.dynamicConfig ?? {})) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }
  return args;
}

export function taskQueueFor(nodeId: string): string {
  return `berth.${nodeId}`;
}

export interface ProbeResult {
  ok: boolean;
  version?: string;
  error?: string;
}

/** Asks the frontend for its version and the namespace: healthy only if both answer. */
export async function probeTemporal(
  address: string,
  namespace: string,
  timeoutMs: number,
): Promise<ProbeResult> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    const deadline = Date.now() + timeoutMs;
    const info = await connection.withDeadline(deadline, () => connection!.workflowService.getSystemInfo({}));
    await connection.withDeadline(deadline, () =>
      connection!.workflowService.describeNamespace({ namespace }),
    );
    return { ok: true, version: info.serverVersion ?? 'unknown' };
  } catch (err) {
    return { ok: false, error: errorMessage(err).split('\n')[0] };
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

let runtimeInstalled = false;

/** Routes the SDK core's logs into berthd's logger at warn level (its default is noisy). */
function installRuntime(log: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({
    logger: {
      log: (level, message, meta) =>
        log[level === 'TRACE' ? 'trace' : (level.toLowerCase() as 'info')]({ ...meta }, message),
      trace: (m, meta) => log.trace({ ...meta }, m),
      debug: (m, meta) => log.debug({ ...meta }, m),
      info: (m, meta) => log.info({ ...meta }, m),
      warn: (m, meta) => log.warn({ ...meta }, m),
      error: (m, meta) => log.error({ ...meta }, m),
    },
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'WARN' }), forward: {} } },
  });
}

/**
 * Workflow code runs on the daemon's own thread, not in a worker thread with a V8 isolate of its
 * own: berthd's PSS falls by about 60 MiB (242 → 180 MiB with 50 pods, bench/memory/pss.ts) and the
 * CRI latencies do not move (bench/cri/symmetric.ts, alternating runs); workflow activations are
 * short orchestration, so they do not hold the event loop. The SDK offers this as `debugMode` (the
 * path its replay workers use), which also lifts the limit on a workflow activation's time: the
 * default 5 s limit is set back, so a workflow that never yields still fails its task.
 */
export const WORKFLOWS_ON_MAIN_THREAD = { debugMode: true, isolateExecutionTimeout: '5s' } as {
  debugMode: boolean;
};

/**
 * Puts the caller of the request being served (src/common/caller.ts) in the `berth-caller` header
 * of each workflow it starts; the workflow interceptors carry it to the activities.
 */
export const callerHeaderInterceptor: WorkflowClientInterceptor = {
  startWithDetails: (input, next) => next({ ...input, headers: withCallerHeader(input.headers) }),
  signalWithStart: (input, next) => next({ ...input, headers: withCallerHeader(input.headers) }),
};

function withCallerHeader<H extends Record<string, unknown>>(headers: H): H {
  const caller = currentCaller();
  return caller ? { ...headers, [CALLER_HEADER]: defaultPayloadConverter.toPayload(caller) } : headers;
}

export interface TemporalHandles {
  connection: NativeConnection;
  client: Client;
  worker: Worker;
}

export async function connectTemporal(
  address: string,
  namespace: string,
  taskQueue: string,
  activities: object,
  log: Logger,
  activityInterceptors: ActivityInterceptorsFactory[] = [],
  sinks: InjectedSinks<Sinks> = {},
): Promise<TemporalHandles> {
  if (!existsSync(WORKFLOW_BUNDLE)) {
    throw new UnavailableError(
      `workflow bundle ${WORKFLOW_BUNDLE} is missing: run the build (scripts/setup)`,
    );
  }
  installRuntime(log.child({ component: 'temporal-sdk' }));
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect({ address });
  } catch (err) {
    throw new UnavailableError(`cannot connect to Temporal at ${address}: ${errorMessage(err)}`);
  }
  const client = new Client({ connection, namespace, interceptors: { workflow: [callerHeaderInterceptor] } });
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue,
    workflowBundle: { codePath: WORKFLOW_BUNDLE },
    activities,
    interceptors: { activity: [callerInterceptor, ...activityInterceptors] },
    sinks,
    ...WORKFLOWS_ON_MAIN_THREAD,
  });
  stopWorkflowPromiseHook();
  return { connection, client, worker };
}

/**
 * Creating the worker installed the SDK's V8 promise hook, which records a stack for every promise
 * a workflow makes (the `__stack_trace` query). A promise hook is per thread, and with workflows
 * on the daemon's thread it ran for every promise berthd makes: two calls per promise, each
 * compiling a function to find the promise's workflow. In cold pulls of the 27,000-entry image of
 * bench/cri/symmetric.ts that was about 0.85 s of berthd's CPU per pull in `getActivator` alone,
 * and the unpack took 4.4 s in berthd against 2.4 s in a bare process. Workflows created after
 * this report stack traces as not enabled (Berth never asks for them; `berth explain` reads the
 * event log and Temporal's history).
 */
export function stopWorkflowPromiseHook(): void {
  const hooks = globalHandlers as unknown as { stopPromiseHook(): void; promiseHookInstalled: boolean };
  hooks.stopPromiseHook();
  hooks.promiseHookInstalled = false;
}
