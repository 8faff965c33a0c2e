import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  BerthError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  UnimplementedError,
} from '../../src/common/errors.js';
import { grpcCodeOf } from '../../src/cri/status.js';
import { expectStatus, rpc, startGateway, type Gateway } from './harness.js';
import { podConfig } from './requests.js';

let g: Gateway;
beforeAll(async () => {
  g = await startGateway();
});
afterAll(async () => {
  await g.close();
});

const cases: [string, Error, grpc.status][] = [
  ['not_found', new NotFoundError('sandbox x not found'), grpc.status.NOT_FOUND],
  [
    'invalid_argument',
    new InvalidArgumentError('runtime handler "kata" is not configured'),
    grpc.status.INVALID_ARGUMENT,
  ],
  [
    'already_exists',
    new AlreadyExistsError('pod name "web_default_uid_0" is taken'),
    grpc.status.ALREADY_EXISTS,
  ],
  [
    'failed_precondition',
    new FailedPreconditionError('sandbox is not ready'),
    grpc.status.FAILED_PRECONDITION,
  ],
  ['unavailable', new UnavailableError('Temporal is down'), grpc.status.UNAVAILABLE],
  ['unimplemented', new UnimplementedError('user namespaces are not supported'), grpc.status.UNIMPLEMENTED],
  ['permission_denied', new BerthError('permission_denied', 'no'), grpc.status.PERMISSION_DENIED],
  ['internal', new BerthError('internal', 'bug'), grpc.status.INTERNAL],
  ['an untyped error', new Error('disk on fire'), grpc.status.INTERNAL],
];

describe('error mapping', () => {
  for (const [what, error, code] of cases) {
    it(`maps ${what} to ${grpc.status[code]} keeping the message`, async () => {
      g.backend.override('runPodSandbox', async () => {
        throw error;
      });
      await expectStatus(
        rpc((cb) => g.runtime.RunPodSandbox({ config: podConfig() }, cb)),
        code,
        'RunPodSandbox',
        error.message,
      );
    });
  }

  it('treats an aborted backend call as CANCELLED', () => {
    const abort = new Error('aborted');
    abort.name = 'AbortError';
    expect(grpcCodeOf(abort)).toBe(grpc.status.CANCELLED);
  });

  it('does not turn a failing idempotent remove into success unless the target is unknown', async () => {
    g.backend.override('removeContainer', async () => {
      throw new UnavailableError('Temporal is down');
    });
    await expectStatus(
      rpc((cb) => g.runtime.RemoveContainer({ container_id: 'abc' }, cb)),
      grpc.status.UNAVAILABLE,
      'Temporal is down',
    );
  });

  it('passes the backend UNIMPLEMENTED reason through, never a success', async () => {
    g.backend.override('reopenContainerLog', async () => {
      throw new UnimplementedError('log reopening needs conmon >= 2.1.7');
    });
    await expectStatus(
      rpc((cb) => g.runtime.ReopenContainerLog({ container_id: 'abc' }, cb)),
      grpc.status.UNIMPLEMENTED,
      'conmon >= 2.1.7',
    );
  });

  it('gives the backend an AbortSignal that fires when the client gives up', async () => {
    let seen: AbortSignal | undefined;
    g.backend.override('startContainer', (_id, ctx) => {
      seen = ctx.signal;
      return new Promise((_resolve, reject) =>
        ctx.signal.addEventListener('abort', () => reject(new UnavailableError('gave up'))),
      );
    });
    await expectStatus(
      rpc((cb) => g.runtime.StartContainer({ container_id: 'abc' }, { deadline: Date.now() + 200 }, cb)),
      grpc.status.DEADLINE_EXCEEDED,
    );
    await expect.poll(() => seen?.aborted).toBe(true);
  });
});
