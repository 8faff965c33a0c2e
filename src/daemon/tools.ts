/**
 * Where berthd finds the programs it runs. A path from the config is used as given; a bare name is
 * looked up first in the tools folder `./scripts/setup` fills (runc 1.5, CRIU, the Temporal CLI),
 * then on PATH — so berthd started by hand, without the setup's PATH, runs the same programs as
 * `./scripts/up`. A program berthd cannot do without is checked before anything starts.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FailedPreconditionError } from '../common/errors.js';
import { findOnPath, isExecutable } from '../common/exec.js';
import type { DaemonConfig } from './config.js';

/** setup's default machine-wide cache (scripts/setup: BERTH_TOOLS_DIR). */
const DEFAULT_TOOLS_DIR = '/var/cache/berth/tools';

/** The tools folders to search, most specific first: BERTH_TOOLS_DIR, the checkout's `.tools`, the default cache. */
export function toolDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const checkout = ['../../.tools/bin', '../../../.tools/bin'] // src/daemon, dist/src/daemon
    .map((rel) => fileURLToPath(new URL(rel, import.meta.url)))
    .filter((dir) => existsSync(dir));
  const dirs = [
    ...(env.BERTH_TOOLS_DIR ? [`${env.BERTH_TOOLS_DIR}/bin`] : []),
    ...checkout,
    `${DEFAULT_TOOLS_DIR}/bin`,
  ];
  return [...new Set(dirs)];
}

/** The search path for bare program names: the tools folders, then PATH. */
export function toolSearchPath(env: NodeJS.ProcessEnv = process.env): string {
  return [...toolDirs(env), env.PATH ?? ''].filter(Boolean).join(':');
}

export function resolveTool(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return findOnPath(name, toolSearchPath(env));
}

/**
 * The config's binaries as absolute paths. The ones every start needs (the default runtime, conmon,
 * and the embedded services when embedded) must exist; a missing one is an error naming it and
 * the command that installs it. The other handlers' programs stay as named when absent and fail
 * when a container asks for that handler.
 */
export function resolveBinaries(
  config: DaemonConfig,
  env: NodeJS.ProcessEnv = process.env,
): DaemonConfig['binaries'] {
  const b = config.binaries;
  const required: (keyof DaemonConfig['binaries'])[] = ['runc', 'conmon'];
  if (!config.temporalAddress) required.push('temporal');
  if (!config.natsUrl) required.push('natsServer');
  const out = { ...b };
  for (const key of Object.keys(b) as (keyof DaemonConfig['binaries'])[]) {
    // A bare name is found only if executable; a path is taken as given, so it is checked here.
    const found = resolveTool(b[key], env);
    if (found && isExecutable(found)) out[key] = found;
    else if (required.includes(key)) throw missingTool(key, b[key], env);
  }
  return out;
}

function missingTool(key: string, name: string, env: NodeJS.ProcessEnv): FailedPreconditionError {
  const why =
    key === 'temporal'
      ? ' (the embedded Temporal server; or give --temporal-address)'
      : key === 'natsServer'
        ? ' (the embedded NATS server; or give --nats-url)'
        : '';
  const problem = name.includes('/')
    ? 'is not an executable file'
    : `not found in ${toolDirs(env).join(', ')} or PATH`;
  return new FailedPreconditionError(
    `${name}${why} ${problem}: run ./scripts/setup to install it, or name it in the config`,
  );
}
