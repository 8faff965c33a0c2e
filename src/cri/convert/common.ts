/** Small conversions shared by the message converters. */
import { invalid } from '../validate.js';
import type { OutUInt64Value } from '../wire.js';
import type { UnixNanos } from '../types/sandbox.js';

/** int64 nanoseconds for the wire: a decimal string keeps every digit (a double would round). */
export function nanosOut(value: UnixNanos): string {
  return value.toString();
}

/** CRI's optional UInt64Value: absent stays absent (null), never a misleading zero. */
export function u64(value: number | undefined): OutUInt64Value | null {
  return value === undefined ? null : { value };
}

/**
 * Maps an enum received as its proto name (the loader's `enums: String`) to Berth's value.
 * A number means the client sent a value this proto does not define: that is bad input.
 */
export function enumFromWire<W extends string, T>(field: string, value: W | number, table: Record<W, T>): T {
  if (typeof value === 'string' && Object.prototype.hasOwnProperty.call(table, value)) return table[value];
  throw invalid(field, `${JSON.stringify(value)} is not a known value (${Object.keys(table).join(', ')})`);
}

/** Inverts a table from enumFromWire for answers. */
export function enumToWire<W extends string, T>(value: T, table: Record<W, T>): W {
  for (const [wire, berth] of Object.entries(table) as [W, T][]) if (berth === value) return wire;
  throw new Error(`no wire value for ${String(value)}`);
}

/** Undefined for an empty filter field, so "absent" and "empty" mean the same (match all). */
export function optionalString(value: string): string | undefined {
  return value === '' ? undefined : value;
}

export function optionalMap(value: Record<string, string>): Record<string, string> | undefined {
  return Object.keys(value).length === 0 ? undefined : { ...value };
}
