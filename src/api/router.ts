/** A small method + path router for the API server; path segments starting with ':' are parameters. */
import type { IncomingMessage } from 'node:http';

export interface ApiRequest {
  params: Record<string, string>;
  query: URLSearchParams;
  body: unknown;
  raw: IncomingMessage;
  /** Aborted when the client goes away: streaming handlers stop on it. */
  signal: AbortSignal;
}

/** A handler returns a JSON value, or `{ stream }` to send newline-delimited JSON until the iterable ends. */
export type ApiResult = unknown | { stream: AsyncIterable<unknown> };

export interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** e.g. `/v1/containers/:id` */
  path: string;
  handler: (req: ApiRequest) => Promise<ApiResult>;
}

interface CompiledRoute extends Route {
  segments: string[];
}

export class Router {
  private readonly routes: CompiledRoute[] = [];

  add(...routes: Route[]): this {
    for (const r of routes) this.routes.push({ ...r, segments: r.path.split('/').filter(Boolean) });
    return this;
  }

  /** Returns the route and its parameters, `'method'` if the path exists for another method, or undefined. */
  match(
    method: string,
    pathname: string,
  ): { route: Route; params: Record<string, string> } | 'method' | undefined {
    const parts = pathname.split('/').filter(Boolean);
    let pathMatched = false;
    for (const route of this.routes) {
      const params = matchSegments(route.segments, parts);
      if (!params) continue;
      if (route.method === method) return { route, params };
      pathMatched = true;
    }
    return pathMatched ? 'method' : undefined;
  }
}

function matchSegments(segments: string[], parts: string[]): Record<string, string> | undefined {
  if (segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const part = parts[i]!;
    if (seg.startsWith(':')) params[seg.slice(1)] = decodeURIComponent(part);
    else if (seg !== part) return undefined;
  }
  return params;
}
