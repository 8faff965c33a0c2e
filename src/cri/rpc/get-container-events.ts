/**
 * GetContainerEvents: a live stream of container lifecycle events for evented PLEG. Each call
 * is its own subscription to the backend, so any number of subscribers each see every event;
 * the stream lasts until the client cancels or the server closes.
 */
import type { ContainerEventResponse } from '../generated/runtime/v1/ContainerEventResponse.js';
import type { GetEventsRequest__Output } from '../generated/runtime/v1/GetEventsRequest.js';
import { containerEventToWire } from '../convert/events.js';
import type { StreamRpc } from './context.js';

export const getContainerEvents: StreamRpc<GetEventsRequest__Output, ContainerEventResponse> =
  async function* (_request, ctx) {
    for await (const event of ctx.backend.containerEvents(ctx.call)) {
      if (ctx.call.signal.aborted) return;
      yield containerEventToWire(event);
    }
  };
