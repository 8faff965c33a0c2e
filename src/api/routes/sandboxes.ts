/**
 * Pod sandboxes: POST /v1/sandboxes (run), GET /v1/sandboxes (list), GET /v1/sandboxes/:id
 * (status with a live CNI CHECK), POST /v1/sandboxes/:id/stop, DELETE /v1/sandboxes/:id.
 */
import { InvalidArgumentError } from '../../common/errors.js';
import type { SandboxFilter, SandboxService } from '../../daemon/sandboxes.js';
import type { SandboxConfig } from '../../sandbox/config.js';
import type { Route } from '../router.js';

/** The body of POST /v1/sandboxes. */
export interface RunSandboxBody {
  config: SandboxConfig;
  runtimeHandler?: string;
  namespace?: string;
}

const STATES = ['created', 'ready', 'notready'] as const;

function filterFrom(query: URLSearchParams): SandboxFilter {
  const filter: SandboxFilter = {};
  const ns = query.get('namespace');
  if (ns) filter.namespace = ns;
  const id = query.get('id');
  if (id) filter.id = id;
  const state = query.get('state');
  if (state) {
    if (!(STATES as readonly string[]).includes(state)) {
      throw new InvalidArgumentError(`state ${JSON.stringify(state)} is not one of ${STATES.join(', ')}`);
    }
    filter.state = state as SandboxFilter['state'];
  }
  for (const l of query.getAll('label')) {
    const eq = l.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`label filter ${JSON.stringify(l)} must be key=value`);
    (filter.labels ??= {})[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return filter;
}

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new InvalidArgumentError(`"${key}" must be a string`);
  return v;
}

export function sandboxRoutes(
  sandboxes: Pick<SandboxService, 'run' | 'stop' | 'remove' | 'list' | 'status'>,
): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/sandboxes',
      handler: async (req) => {
        const body = req.body as Record<string, unknown> | undefined;
        if (!body || typeof body.config !== 'object' || body.config === null) {
          throw new InvalidArgumentError(
            'a sandbox request needs a "config" object (CRI PodSandboxConfig fields)',
          );
        }
        const runtimeHandler = optionalString(body, 'runtimeHandler');
        const namespace = optionalString(body, 'namespace');
        return sandboxes.run(body.config as SandboxConfig, {
          ...(runtimeHandler ? { runtimeHandler } : {}),
          ...(namespace ? { namespace } : {}),
        });
      },
    },
    { method: 'GET', path: '/v1/sandboxes', handler: (req) => sandboxes.list(filterFrom(req.query)) },
    { method: 'GET', path: '/v1/sandboxes/:id', handler: (req) => sandboxes.status(req.params.id!) },
    { method: 'POST', path: '/v1/sandboxes/:id/stop', handler: (req) => sandboxes.stop(req.params.id!) },
    {
      method: 'DELETE',
      path: '/v1/sandboxes/:id',
      handler: async (req) => {
        await sandboxes.remove(req.params.id!);
        return { removed: req.params.id };
      },
    },
  ];
}
