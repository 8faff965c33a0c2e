/**
 * Container routes (ids may be unique prefixes or names):
 *   POST   /v1/containers                  CreateContainerRequest → ContainerStatus
 *   GET    /v1/containers                  ?namespace&sandbox&state&label=k=v → ContainerStatus[]
 *   GET    /v1/containers/:id              → ContainerStatus
 *   POST   /v1/containers/:id/start        → ContainerStatus
 *   POST   /v1/containers/:id/stop         {timeout?: seconds} → ContainerStatus
 *   DELETE /v1/containers/:id              ?force=true → {removed: id}
 *   POST   /v1/containers/:id/exec         {cmd, timeout?} → {exitCode, stdout, stderr, timedOut}
 *   POST   /v1/containers/:id/exec-command {cmd, tty?} → {argv, processFile, execId}: a process the
 *          (root, local) CLI runs itself with its own terminal, for `berth exec -it`
 *   POST   /v1/containers/:id/exec-exited  {execId, exitCode} → {}: that process's exit, for the log
 *   GET    /v1/containers/:id/logs         ?follow&since&tail → NDJSON {time, stream, text}
 *   GET    /v1/containers/:id/stats        → ContainerStats
 *   POST   /v1/containers/:id/update       ResourceRequest → {}
 *   POST   /v1/containers/:id/reopen-log   → {}
 *   POST   /v1/containers/:id/pause        → ContainerStatus
 *   POST   /v1/containers/:id/resume       → ContainerStatus
 */
import { InvalidArgumentError } from '../../common/errors.js';
import type { ContainerService, ContainerState, CreateContainerRequest } from '../../daemon/containers.js';
import type { ResourceRequest } from '../../runtime/spec-request.js';
import type { ApiRequest, Route } from '../router.js';

export interface ContainerRoutesSource {
  readonly containers: ContainerService;
}

function body(req: ApiRequest): Record<string, unknown> {
  const b = req.body;
  if (b !== undefined && (typeof b !== 'object' || b === null || Array.isArray(b)))
    throw new InvalidArgumentError('the request body must be a JSON object');
  return (b ?? {}) as Record<string, unknown>;
}

function cmdOf(b: Record<string, unknown>): string[] {
  const cmd = b.cmd;
  if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((c) => typeof c === 'string'))
    throw new InvalidArgumentError('"cmd" must be a non-empty array of strings');
  return cmd as string[];
}

/** The optional `size: {width, height}` of an exec's terminal, whole numbers of 1..65535. */
function terminalSizeOf(b: Record<string, unknown>): { width: number; height: number } | undefined {
  if (b.size === undefined) return undefined;
  const size = b.size as { width?: unknown; height?: unknown } | null;
  const ok = (v: unknown) => Number.isInteger(v) && (v as number) > 0 && (v as number) <= 0xffff;
  if (typeof size !== 'object' || size === null || !ok(size.width) || !ok(size.height))
    throw new InvalidArgumentError('"size" must be {"width": W, "height": H}, whole numbers from 1 to 65535');
  return { width: size.width as number, height: size.height as number };
}

/** Every container state, so a filter naming another is refused rather than matching nothing. */
const CONTAINER_STATES: Record<ContainerState, true> = {
  created: true,
  running: true,
  paused: true,
  exited: true,
  unknown: true,
};

function stateFilter(state: string | null): ContainerState | undefined {
  if (state === null || state === '') return undefined;
  if (!Object.hasOwn(CONTAINER_STATES, state))
    throw new InvalidArgumentError(
      `state "${state}" is not a container state (${Object.keys(CONTAINER_STATES).join(', ')})`,
    );
  return state as ContainerState;
}

function seconds(v: unknown, what: string): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`"${what}" must be a non-negative number`);
  return n;
}

export function containerRoutes(src: ContainerRoutesSource): Route[] {
  const svc = () => src.containers;
  return [
    {
      method: 'POST',
      path: '/v1/containers',
      handler: async (req) => svc().create(body(req) as unknown as CreateContainerRequest),
    },
    {
      method: 'GET',
      path: '/v1/containers',
      handler: async (req) => {
        const q = req.query;
        const labels: Record<string, string> = {};
        for (const l of q.getAll('label')) {
          const i = l.indexOf('=');
          if (i <= 0) throw new InvalidArgumentError(`label filter "${l}" must be key=value`);
          labels[l.slice(0, i)] = l.slice(i + 1);
        }
        const state = stateFilter(q.get('state'));
        return svc().list({
          ...(q.get('namespace') ? { namespace: q.get('namespace')! } : {}),
          ...(q.get('sandbox') ? { sandboxId: q.get('sandbox')! } : {}),
          ...(state ? { state } : {}),
          labels,
        });
      },
    },
    { method: 'GET', path: '/v1/containers/:id', handler: async (req) => svc().get(req.params.id!) },
    {
      method: 'POST',
      path: '/v1/containers/:id/start',
      handler: async (req) => svc().start(req.params.id!),
    },
    {
      method: 'POST',
      path: '/v1/containers/:id/stop',
      handler: async (req) => svc().stop(req.params.id!, seconds(body(req).timeout, 'timeout') ?? 10),
    },
    {
      method: 'DELETE',
      path: '/v1/containers/:id',
      handler: async (req) => {
        const id = svc().get(req.params.id!).id;
        await svc().remove(id, { force: req.query.get('force') === 'true' });
        return { removed: id };
      },
    },
    {
      method: 'POST',
      path: '/v1/containers/:id/exec',
      handler: async (req) => {
        const b = body(req);
        const r = await svc().execSync(req.params.id!, cmdOf(b), seconds(b.timeout, 'timeout') ?? 0);
        return {
          exitCode: r.exitCode,
          stdout: r.stdout.toString('utf8'),
          stderr: r.stderr.toString('utf8'),
          timedOut: r.timedOut,
        };
      },
    },
    {
      method: 'POST',
      path: '/v1/containers/:id/exec-command',
      handler: async (req) => {
        const b = body(req);
        return svc().execCommand(req.params.id!, cmdOf(b), b.tty === true, terminalSizeOf(b));
      },
    },
    {
      method: 'POST',
      path: '/v1/containers/:id/exec-exited',
      handler: async (req) => {
        const b = body(req);
        if (typeof b.execId !== 'string' || b.execId === '')
          throw new InvalidArgumentError('"execId" must be the id exec-command returned');
        if (!Number.isInteger(b.exitCode) || (b.exitCode as number) < 0 || (b.exitCode as number) > 255)
          throw new InvalidArgumentError('"exitCode" must be a whole number from 0 to 255');
        await svc().execCommandExited(req.params.id!, b.execId, b.exitCode as number);
        return {};
      },
    },
    {
      method: 'GET',
      path: '/v1/containers/:id/logs',
      handler: async (req) => {
        const q = req.query;
        const since = q.get('since');
        const tail = q.get('tail');
        const sinceDate = since ? new Date(since) : undefined;
        if (sinceDate && Number.isNaN(sinceDate.getTime()))
          throw new InvalidArgumentError(`since: "${since}" is not a time`);
        const entries = svc().logs(req.params.id!, {
          follow: q.get('follow') === 'true',
          signal: req.signal,
          ...(sinceDate ? { since: sinceDate } : {}),
          ...(tail ? { tail: Number(tail) } : {}),
        });
        return {
          stream: (async function* () {
            for await (const e of entries) yield { time: e.time, stream: e.stream, text: e.text };
          })(),
        };
      },
    },
    { method: 'GET', path: '/v1/containers/:id/stats', handler: async (req) => svc().stats(req.params.id!) },
    {
      method: 'POST',
      path: '/v1/containers/:id/update',
      handler: async (req) => {
        await svc().update(req.params.id!, body(req) as ResourceRequest);
        return {};
      },
    },
    { method: 'POST', path: '/v1/containers/:id/pause', handler: async (req) => svc().pause(req.params.id!) },
    {
      method: 'POST',
      path: '/v1/containers/:id/resume',
      handler: async (req) => svc().resume(req.params.id!),
    },
    {
      method: 'POST',
      path: '/v1/containers/:id/reopen-log',
      handler: async (req) => {
        await svc().reopenLog(req.params.id!);
        return {};
      },
    },
  ];
}
