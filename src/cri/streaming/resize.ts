/**
 * The resize channel carries a sequence of JSON objects `{"Width":w,"Height":h}` (client-go
 * encodes them back to back with json.Encoder). This turns the channel's bytes into sizes.
 */
import type { Readable } from 'node:stream';
import type { TerminalSize } from './backend.js';

export async function* terminalSizes(channel: Readable): AsyncGenerator<TerminalSize> {
  let pending = '';
  for await (const chunk of channel as AsyncIterable<Buffer>) {
    pending += chunk.toString('utf8');
    for (;;) {
      const { object, rest } = takeObject(pending);
      if (object === undefined) break;
      pending = rest;
      const size = parseSize(object);
      if (size) yield size;
    }
    // A client sending garbage without ever closing a brace must not grow this forever.
    if (pending.length > 4096) pending = '';
  }
}

/** Splits off the first complete top-level JSON object (sizes hold no strings with braces). */
function takeObject(text: string): { object?: string; rest: string } {
  const start = text.indexOf('{');
  if (start < 0) return { rest: '' };
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0)
      return { object: text.slice(start, i + 1), rest: text.slice(i + 1) };
  }
  return { rest: text.slice(start) };
}

function parseSize(json: string): TerminalSize | undefined {
  try {
    const value = JSON.parse(json) as { Width?: unknown; Height?: unknown };
    const width = Number(value.Width);
    const height = Number(value.Height);
    if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) return undefined;
    if (width > 0xffff || height > 0xffff) return undefined;
    return { width, height };
  } catch {
    return undefined;
  }
}
