/**
 * `berth run` (pull if needed, create, start, then follow the output until exit or detach; `--rm`
 * removes it afterwards) and `berth exec` (captured output, or `-it`: the runtime runs here with
 * this terminal, which berthd's socket being local and root-only makes possible).
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../../common/errors.js';
import type { ContainerStatus, CreateContainerRequest } from '../../daemon/containers.js';
import type { ApiClient } from '../../api/client.js';
import type { Command } from '../command.js';
import { parseCommandArgs } from '../command.js';
import { containerPath, printLogs } from './containers.js';

const RUN_OPTIONS = {
  detach: { type: 'boolean', short: 'd', default: false },
  rm: { type: 'boolean', default: false },
  name: { type: 'string' },
  namespace: { type: 'string', short: 'n' },
  sandbox: { type: 'string' },
  pod: { type: 'boolean', default: false },
  env: { type: 'string', short: 'e', multiple: true },
  workdir: { type: 'string', short: 'w' },
  user: { type: 'string', short: 'u' },
  entrypoint: { type: 'string' },
  volume: { type: 'string', short: 'v', multiple: true },
  tmpfs: { type: 'string', multiple: true },
  'read-only': { type: 'boolean', default: false },
  'cap-add': { type: 'string', multiple: true },
  'cap-drop': { type: 'string', multiple: true },
  'security-opt': { type: 'string', multiple: true },
  memory: { type: 'string', short: 'm' },
  'cpu-quota': { type: 'string' },
  'cpu-period': { type: 'string' },
  'cpu-shares': { type: 'string' },
  'pids-limit': { type: 'string' },
  runtime: { type: 'string' },
  label: { type: 'string', short: 'l', multiple: true },
  'log-path': { type: 'string' },
  tty: { type: 'boolean', short: 't', default: false },
  interactive: { type: 'boolean', short: 'i', default: false },
} as const;

/** Splits argv at the first positional (the image): what follows is the container's command, flags included. */
export function splitAtImage(
  argv: string[],
  options: Record<string, { type: string; short?: string }>,
): number {
  const takesValue = new Set<string>();
  for (const [name, o] of Object.entries(options)) {
    if (o.type !== 'string') continue;
    takesValue.add(`--${name}`);
    if (o.short) takesValue.add(`-${o.short}`);
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return i + 1;
    if (!a.startsWith('-') || a === '-') return i;
    if (takesValue.has(a)) i++;
  }
  return argv.length;
}

const SIZE = /^(\d+(?:\.\d+)?)([kmg]?)b?$/i;
function bytes(text: string, what: string): number {
  const m = SIZE.exec(text);
  if (!m) throw new InvalidArgumentError(`${what}: "${text}" is not a size (e.g. 64m)`);
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(m[1]) * mult);
}

function int(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  if (!/^-?\d+$/.test(text)) throw new InvalidArgumentError(`${what}: "${text}" is not an integer`);
  return Number(text);
}

function keyValues(list: string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new InvalidArgumentError(`${what}: "${kv}" must be key=value`);
    out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return out;
}

type RunValues = ReturnType<typeof parseCommandArgs<typeof RUN_OPTIONS>>['values'];

export function buildCreateRequest(v: RunValues, image: string, args: string[]): CreateContainerRequest {
  const binds = (v.volume ?? []).map((spec) => {
    const [hostPath, containerPath, mode] = spec.split(':');
    if (!hostPath || !containerPath)
      throw new InvalidArgumentError(`--volume: "${spec}" must be HOST:CONTAINER[:ro]`);
    return { hostPath, containerPath, readonly: mode === 'ro' };
  });
  const seccomp = (v['security-opt'] ?? []).map((o) => {
    if (o === 'seccomp=unconfined') return { kind: 'unconfined' as const };
    throw new InvalidArgumentError(`--security-opt: "${o}" is not supported (seccomp=unconfined is)`);
  })[0];
  const resources = {
    ...(v.memory ? { memoryLimitBytes: bytes(v.memory, '--memory') } : {}),
    ...(v['cpu-quota'] ? { cpuQuota: int(v['cpu-quota'], '--cpu-quota') } : {}),
    ...(v['cpu-period'] ? { cpuPeriod: int(v['cpu-period'], '--cpu-period') } : {}),
    ...(v['cpu-shares'] ? { cpuShares: int(v['cpu-shares'], '--cpu-shares') } : {}),
    ...(v['pids-limit'] ? { pidsLimit: int(v['pids-limit'], '--pids-limit') } : {}),
  };
  const env = Object.entries(keyValues(v.env, '--env')).map(([key, value]) => ({ key, value }));
  return {
    name: v.name ?? `berth-${randomBytes(4).toString('hex')}`,
    image,
    pull: true,
    exclusive: true,
    ...(v.namespace ? { namespace: v.namespace } : {}),
    ...(v.sandbox ? { sandboxId: v.sandbox } : {}),
    ...(v.entrypoint !== undefined ? { command: [v.entrypoint] } : {}),
    ...(args.length ? { args } : {}),
    ...(env.length ? { env } : {}),
    ...(v.workdir ? { workingDir: v.workdir } : {}),
    ...(v.user ? { user: v.user } : {}),
    ...(binds.length ? { binds } : {}),
    ...(v.tmpfs?.length ? { tmpfs: v.tmpfs.map((containerPath) => ({ containerPath })) } : {}),
    ...(v['read-only'] ? { readonlyRootfs: true } : {}),
    ...(v['cap-add'] || v['cap-drop']
      ? { capabilities: { add: v['cap-add'] ?? [], drop: v['cap-drop'] ?? [] } }
      : {}),
    ...(seccomp ? { seccomp } : {}),
    ...(Object.keys(resources).length ? { resources } : {}),
    ...(v.runtime ? { runtimeHandler: v.runtime } : {}),
    ...(v.label ? { labels: keyValues(v.label, '--label') } : {}),
    ...(v['log-path'] ? { logPath: v['log-path'] } : {}),
    ...(v.tty ? { tty: true } : {}),
  };
}

/** Runs a sandbox for one container; returns its id. */
async function createPod(client: ApiClient, name: string, namespace: string | undefined): Promise<string> {
  const sandbox = await client.post<{ id: string }>('/v1/sandboxes', {
    config: {
      metadata: { name, uid: randomBytes(8).toString('hex'), namespace: namespace ?? 'default', attempt: 0 },
      hostname: name,
    },
    ...(namespace ? { namespace } : {}),
  });
  return sandbox.id;
}

export const runCommand: Command = {
  name: 'run',
  summary: 'Run a command in a new container (pulls the image if needed)',
  usage:
    'berth run [-d] [--rm] [--name N] [-e K=V] [-v H:C[:ro]] [-u USER] [-w DIR] [--read-only] [--cap-add C] ' +
    '[--cap-drop C] [--memory 64m] [--pids-limit N] [--cpu-quota US] [--runtime runc|crun] [--sandbox ID | --pod] ' +
    'IMAGE [COMMAND [ARG...]] [--json]',
  async run(argv, ctx) {
    const at = splitAtImage(argv, RUN_OPTIONS);
    const { values } = parseCommandArgs('run', argv.slice(0, at), RUN_OPTIONS);
    const [image, ...args] = argv.slice(at);
    if (!image) throw new InvalidArgumentError('berth run: name an image');
    if (values.interactive)
      throw new InvalidArgumentError('berth run: -i is not supported; run with -d, then berth exec -it');
    if (values.pod && values.sandbox)
      throw new InvalidArgumentError(
        'berth run: --pod creates a sandbox, --sandbox joins one: give one of them',
      );
    const request = buildCreateRequest(values, image, args);
    // --pod: a sandbox of its own (pinned namespaces, CNI network, hostname = the container's name).
    const pod = values.pod ? await createPod(ctx.client, request.name, values.namespace) : undefined;
    const removePod = async () => {
      if (pod) await ctx.client.delete(`/v1/sandboxes/${encodeURIComponent(pod)}`);
    };
    let created: ContainerStatus;
    try {
      created = await ctx.client.post<ContainerStatus>('/v1/containers', {
        ...request,
        ...(pod ? { sandboxId: pod } : {}),
      });
    } catch (err) {
      await removePod().catch(() => undefined);
      throw err;
    }
    const started = await ctx.client.post<ContainerStatus>(containerPath(created.id, '/start'));
    if (values.detach) {
      ctx.out(values.json ? JSON.stringify(started, null, 2) : started.id);
      return 0;
    }
    await printLogs(ctx.client, created.id, { follow: 'true' }, false);
    const final = await ctx.client.get<ContainerStatus>(containerPath(created.id));
    if (values.rm) {
      await ctx.client.delete(containerPath(created.id) + '?force=true');
      await removePod();
    }
    if (values.json) ctx.out(JSON.stringify(final, null, 2));
    return final.exitCode ?? 0;
  },
};

export const execCommand: Command = {
  name: 'exec',
  summary: 'Run a command in a running container',
  usage: 'berth exec [-i] [-t] [--timeout S] ID COMMAND [ARG...] [--json]',
  async run(argv, ctx) {
    const options = {
      interactive: { type: 'boolean', short: 'i', default: false },
      tty: { type: 'boolean', short: 't', default: false },
      timeout: { type: 'string' },
    } as const;
    const at = splitAtImage(argv, options);
    const { values } = parseCommandArgs('exec', argv.slice(0, at), options);
    const [id, ...cmd] = argv.slice(at);
    if (!id || cmd.length === 0) throw new InvalidArgumentError('berth exec: name a container and a command');
    if (values.interactive || values.tty) {
      const {
        argv: command,
        processFile,
        execId,
      } = await ctx.client.post<{ argv: string[]; processFile: string; execId: string }>(
        containerPath(id, '/exec-command'),
        {
          cmd,
          tty: values.tty,
          ...(values.tty && process.stdout.isTTY
            ? { size: { width: process.stdout.columns, height: process.stdout.rows } }
            : {}),
        },
      );
      const child = spawn(command[0]!, command.slice(1), {
        stdio: [values.interactive ? 'inherit' : 'ignore', 'inherit', 'inherit'],
      });
      const code = await new Promise<number>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (c, sig) => resolve(c ?? (sig ? 137 : 1)));
      });
      await rm(processFile, { force: true }).catch(() => undefined);
      // For the log's /tasks/exec-exited; the exec's own exit code stands even if berthd is gone.
      await ctx.client
        .post(containerPath(id, '/exec-exited'), { execId, exitCode: code > 255 ? 255 : code })
        .catch(() => undefined);
      return code;
    }
    const r = await ctx.client.post<{ exitCode: number; stdout: string; stderr: string; timedOut: boolean }>(
      containerPath(id, '/exec'),
      { cmd, ...(values.timeout ? { timeout: Number(values.timeout) } : {}) },
    );
    if (values.json) ctx.out(JSON.stringify(r, null, 2));
    else {
      process.stdout.write(r.stdout);
      process.stderr.write(r.stderr);
      if (r.timedOut) process.stderr.write(`berth exec: timed out after ${values.timeout}s\n`);
    }
    return r.exitCode;
  },
};
export const runCommands: Command[] = [runCommand, execCommand];
