/** The versions scripts/setup installs (scripts/versions.sh), for tests and benches that name a tool's folder. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './berthd.js';

export const TOOL_VERSIONS: Readonly<Record<string, string>> = Object.fromEntries(
  [...readFileSync(join(REPO, 'scripts/versions.sh'), 'utf8').matchAll(/^([A-Z0-9_]+)=(\S+)$/gm)].map((m) => [
    m[1]!,
    m[2]!.replace(/^"|"$/g, ''),
  ]),
);

/** One version by its variable's name; a name versions.sh lacks is a mistake in the caller. */
export function toolVersion(name: string): string {
  const v = TOOL_VERSIONS[name];
  if (v === undefined) throw new Error(`scripts/versions.sh sets no ${name}`);
  return v;
}
