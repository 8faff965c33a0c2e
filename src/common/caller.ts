/**
 * The caller of the request being served: who asked (the peer process's kernel credentials on the
 * CRI or API socket) and through what (the CRI RPC, or the API route and the `berth` command). The
 * CRI gateway and the API server run each request inside `withCaller`, so any code below them
 * (services, the TransitionRunner, event appends) reads it with `currentCaller()`. It is recorded
 * in every event's cause as `cause.caller`; a field that is unknown is absent.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { PeerCredentials } from './peer-credentials.js';

/** kubelet (or crictl) calling a CRI RPC. */
export type CriCaller = Partial<PeerCredentials> & {
  via: 'cri';
  /** The RPC name, e.g. `StopContainer`. */
  rpc: string;
};

/** The `berth` CLI (or another API client) calling berthd's API. */
export type ApiCaller = Partial<PeerCredentials> & {
  via: 'api';
  /** HTTP method and route pattern, e.g. `POST` `/v1/containers/:id/stop`. */
  method: string;
  route: string;
  /** The CLI's command (`stop`), from its X-Berth-Command header; absent for other clients. */
  command?: string;
};

export type Caller = CriCaller | ApiCaller;

const callers = new AsyncLocalStorage<Caller>();

export function withCaller<T>(caller: Caller, fn: () => T): T {
  return callers.run(caller, fn);
}

/** Runs `fn` as `caller` when one is known, else as whoever runs it now. */
export function runAs<T>(caller: Caller | undefined, fn: () => T): T {
  return caller ? callers.run(caller, fn) : fn();
}

/** Runs `fn` with no caller, even inside a request's context (work the request did not ask for). */
export function withoutCaller<T>(fn: () => T): T {
  return callers.exit(fn);
}

export function currentCaller(): Caller | undefined {
  return callers.getStore();
}

/** `{ caller }` when a caller is known, else nothing: spread into a cause. */
export function callerField(caller: Caller | undefined = currentCaller()): { caller?: Caller } {
  return caller ? { caller } : {};
}

/** One line for people: `StopContainer from kubelet (pid 1234, uid 0)`, `berth stop by uid 0 (pid 42)`. */
export function describeCaller(caller: Caller): string {
  const who = [
    caller.pid !== undefined ? `pid ${caller.pid}` : undefined,
    caller.uid !== undefined ? `uid ${caller.uid}` : undefined,
  ].filter((s) => s !== undefined);
  if (caller.via === 'cri') {
    const from = caller.comm ?? 'a CRI client';
    return `${caller.rpc} from ${from}${who.length ? ` (${who.join(', ')})` : ''}`;
  }
  const what = caller.command ? `berth ${caller.command}` : `${caller.method} ${caller.route}`;
  const by = caller.uid !== undefined ? ` by uid ${caller.uid}` : '';
  const extra = [caller.pid !== undefined ? `pid ${caller.pid}` : undefined, caller.comm]
    .filter((s) => s !== undefined)
    .join(', ');
  return `${what}${by}${extra ? ` (${extra})` : ''}`;
}
