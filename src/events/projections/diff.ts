/** Deep comparison of JSON-shaped values, listing differences as readable paths. Undefined members count as absent. */
export function diffValues(live: unknown, rebuilt: unknown, limit = 100): string[] {
  const out: string[] = [];
  walk(live, rebuilt, '', out, limit);
  return out;
}

function walk(a: unknown, b: unknown, path: string, out: string[], limit: number): void {
  if (out.length >= limit) return;
  if (Object.is(a, b)) return;
  const bothObjects = typeof a === 'object' && a !== null && typeof b === 'object' && b !== null;
  if (!bothObjects || Array.isArray(a) !== Array.isArray(b)) {
    out.push(`${path || '(root)'}: live ${show(a)}, rebuilt ${show(b)}`);
    return;
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = new Set([...Object.keys(ao), ...Object.keys(bo)]);
  for (const key of [...keys].sort()) {
    const av = ao[key];
    const bv = bo[key];
    if (av === undefined && bv === undefined) continue;
    walk(av, bv, Array.isArray(a) ? `${path}[${key}]` : `${path}${path ? '.' : ''}${key}`, out, limit);
  }
}

function show(v: unknown): string {
  if (v === undefined) return 'absent';
  const s = JSON.stringify(v);
  return s.length > 120 ? s.slice(0, 117) + '...' : s;
}
