/**
 * Byte-exact PAX xattrs. tar-stream decodes PAX record values as UTF-8 strings, which corrupts
 * binary values such as `security.capability`. Its PAX decoder is wrapped (once per process)
 * so each decoded PAX header also carries the raw bytes of its `SCHILY.xattr.*` records under
 * the RAW_XATTRS symbol; everything else tar-stream does is unchanged.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const RAW_XATTRS = Symbol.for('berth.unpack.rawXattrs');
const PATCHED = Symbol.for('berth.unpack.paxPatched');
const XATTR_PREFIX = 'SCHILY.xattr.';

type DecodePax = ((buf: Buffer) => Record<string | symbol, unknown>) & { [PATCHED]?: true };

/** Parses PAX records (`<len> <key>=<value>\n`) keeping values as bytes; stops at the first malformed record. */
export function parsePaxXattrs(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    const space = buf.indexOf(0x20, pos);
    if (space < 0) break;
    const len = Number(buf.subarray(pos, space).toString('latin1'));
    if (!Number.isSafeInteger(len) || len <= space - pos + 1 || pos + len > buf.length) break;
    const record = buf.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) {
      const key = record.subarray(0, eq).toString('utf8');
      if (key.startsWith(XATTR_PREFIX))
        out.set(key.slice(XATTR_PREFIX.length), Buffer.from(record.subarray(eq + 1)));
    }
    pos += len;
  }
  return out;
}

export function installPaxXattrDecoder(): void {
  const require = createRequire(import.meta.url);
  const headers = require(join(dirname(require.resolve('tar-stream')), 'headers.js')) as {
    decodePax: DecodePax;
  };
  const original = headers.decodePax;
  if (original[PATCHED]) return;
  const patched: DecodePax = (buf) => {
    const result = original(buf);
    const xattrs = parsePaxXattrs(buf);
    if (xattrs.size > 0) result[RAW_XATTRS] = xattrs;
    return result;
  };
  patched[PATCHED] = true;
  headers.decodePax = patched;
}

/** The xattrs of an entry: raw bytes where available, else tar-stream's strings. */
export function entryXattrs(pax: Record<string | symbol, unknown> | null | undefined): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  if (!pax) return out;
  for (const [key, value] of Object.entries(pax)) {
    if (key.startsWith(XATTR_PREFIX) && typeof value === 'string')
      out.set(key.slice(XATTR_PREFIX.length), Buffer.from(value, 'utf8'));
  }
  const raw = pax[RAW_XATTRS];
  if (raw instanceof Map) for (const [k, v] of raw as Map<string, Buffer>) out.set(k, v);
  return out;
}
