/** Per-registry settings: scheme, TLS trust, credentials and mirrors, loadable from a YAML/JSON file. */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { InvalidArgumentError } from '../common/errors.js';

const HostConfigSchema = z
  .object({
    /** Speak plain HTTP to this host (never the default). */
    plainHttp: z.boolean().optional(),
    /** PEM file of extra CAs trusted for this host, on top of the system roots. */
    caFile: z.string().optional(),
    /** Skip TLS verification: only for the hosts that name it. */
    insecureSkipVerify: z.boolean().optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    /** Mirrors tried in order before this host: `host[:port]` or `http(s)://host[:port]`. */
    mirrors: z.array(z.string().min(1)).optional(),
  })
  .strict();

export type HostConfig = z.infer<typeof HostConfigSchema>;

const RegistryConfigSchema = z
  .object({
    /** Settings by registry host (`docker.io`, `127.0.0.1:5000`, `quay.io`). */
    hosts: z.record(z.string(), HostConfigSchema).default({}),
    /** Largest manifest or index accepted, in bytes (default 4 MiB). */
    maxManifestBytes: z.number().int().positive().optional(),
    /** How many times a 429 is waited out (honouring Retry-After) before failing (default 3). */
    maxRateLimitRetries: z.number().int().min(0).optional(),
    /**
     * A transfer is failed (and a blob fetch resumed with Range) after this long without a
     * byte arriving, never for its total duration (default 30 s).
     */
    stallTimeoutMs: z.number().int().positive().optional(),
    /** Longest Retry-After honoured, in ms; longer waits fail at once (default 60 s). */
    maxRetryAfterMs: z.number().int().min(0).optional(),
  })
  .strict();

/** Registry settings. Hosts that are not listed get HTTPS with the system CAs and no credentials. */
export type RegistryConfig = z.input<typeof RegistryConfigSchema>;

/** Validates a config object, naming the offending field. */
export function parseRegistryConfig(
  value: unknown,
  source = 'registry config',
): z.output<typeof RegistryConfigSchema> {
  const result = RegistryConfigSchema.safeParse(value ?? {});
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue ? issue.path.join('.') : '';
    throw new InvalidArgumentError(`${source}: ${where ? `${where}: ` : ''}${issue?.message ?? 'invalid'}`);
  }
  return result.data;
}

/** Loads a YAML or JSON registry config file. */
export async function loadRegistryConfig(file: string): Promise<z.output<typeof RegistryConfigSchema>> {
  const text = await readFile(file, 'utf8').catch((err: unknown) => {
    throw new InvalidArgumentError(`cannot read registry config ${file}: ${(err as Error).message}`);
  });
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (err) {
    throw new InvalidArgumentError(
      `registry config ${file} is not valid YAML/JSON: ${(err as Error).message}`,
    );
  }
  return parseRegistryConfig(value, file);
}
