/** POST /v1/test/demo: runs the demo transition (registered only with test hooks on). */
import { InvalidArgumentError } from '../../common/errors.js';
import type { Route } from '../router.js';

export interface DemoRunner {
  runDemo(req: { id: string; refuseAt?: string }): Promise<unknown>;
}

export function demoRoutes(runner: DemoRunner): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/test/demo',
      handler: async (req) => {
        const body = req.body as { id?: unknown; refuseAt?: unknown } | undefined;
        if (typeof body?.id !== 'string') throw new InvalidArgumentError('demo request needs an "id" string');
        return runner.runDemo({
          id: body.id,
          refuseAt: typeof body.refuseAt === 'string' ? body.refuseAt : undefined,
        });
      },
    },
  ];
}
