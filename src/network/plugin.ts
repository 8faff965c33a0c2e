/**
 * Running one CNI plugin per the CNI spec: the command and identity in CNI_* environment
 * variables, the network config on stdin, the result (or a JSON error) on stdout.
 */
import { access, constants } from 'node:fs/promises';
import path from 'node:path';
import { errorMessage } from '../common/errors.js';
import { execFileCapture } from '../common/exec.js';
import { CniPluginError } from './errors.js';
import type { PluginConf } from './conflist.js';
import type { CniResult } from './types.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK';

/** Everything one plugin invocation needs besides its config. */
export interface PluginInvocation {
  command: CniCommand;
  containerId: string;
  /** Empty when the namespace is already gone (allowed for DEL). */
  netns: string;
  ifName: string;
  cniArgs: string;
  binDirs: readonly string[];
  networkName: string;
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 60_000;

/** Finds the plugin binary in the first bin dir that has it. */
export async function findPlugin(type: string, binDirs: readonly string[]): Promise<string | undefined> {
  for (const dir of binDirs) {
    const candidate = path.join(dir, type);
    if (
      await access(candidate, constants.X_OK).then(
        () => true,
        () => false,
      )
    )
      return candidate;
  }
  return undefined;
}

/** Runs one plugin; resolves to its parsed result (ADD) or undefined (DEL, CHECK). */
export async function invokePlugin(
  conf: Record<string, unknown> & PluginConf,
  inv: PluginInvocation,
): Promise<CniResult | undefined> {
  const binary = await findPlugin(conf.type, inv.binDirs);
  if (binary === undefined) {
    throw new CniPluginError(
      conf.type,
      inv.command,
      inv.networkName,
      `plugin binary "${conf.type}" not found in ${inv.binDirs.join(':')}`,
      undefined,
      { missingBinary: true },
    );
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifName,
    CNI_ARGS: inv.cniArgs,
    CNI_PATH: inv.binDirs.join(':'),
  };
  let r;
  try {
    r = await execFileCapture(binary, [], {
      env,
      input: JSON.stringify(conf),
      timeoutMs: inv.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    });
  } catch (err) {
    throw new CniPluginError(conf.type, inv.command, inv.networkName, errorMessage(err), undefined, {
      cause: err,
    });
  }
  if (r.code !== 0) {
    const { reason, code } = pluginFailure(r.stdout, r.stderr, r.signal, r.code);
    throw new CniPluginError(conf.type, inv.command, inv.networkName, reason, code);
  }
  if (inv.command !== 'ADD') return undefined;
  try {
    return JSON.parse(r.stdout) as CniResult;
  } catch (err) {
    throw new CniPluginError(
      conf.type,
      inv.command,
      inv.networkName,
      `result is not JSON: ${JSON.stringify(r.stdout.slice(0, 200))}`,
      undefined,
      {
        cause: err,
      },
    );
  }
}

/** The plugin's JSON error (`msg`, `details`, `code`) or, failing that, its stderr. */
export function pluginFailure(
  stdout: string,
  stderr: string,
  signal: string | null,
  exitCode: number,
): { reason: string; code?: number } {
  try {
    const e = JSON.parse(stdout) as { code?: unknown; msg?: unknown; details?: unknown };
    if (typeof e.msg === 'string') {
      const details = typeof e.details === 'string' && e.details !== '' ? `: ${e.details}` : '';
      return { reason: `${e.msg}${details}`, ...(typeof e.code === 'number' ? { code: e.code } : {}) };
    }
  } catch {
    // Not JSON: fall through to stderr.
  }
  const text = stderr.trim() || stdout.trim();
  if (signal) return { reason: `killed by ${signal}${text ? `: ${text}` : ''}` };
  return { reason: text || `exit status ${exitCode}` };
}
