/** The shape of a `berth` subcommand and the helpers they share. */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InvalidArgumentError, errorMessage } from '../common/errors.js';
import type { ApiClient } from '../api/client.js';

export interface CommandContext {
  client: ApiClient;
  out: (text: string) => void;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Returns the process exit code. */
  run(argv: string[], ctx: CommandContext): Promise<number>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Parses a command's flags strictly (unknown flags are an error naming the flag); `--json` is always accepted. */
export function parseCommandArgs<O extends Options>(
  command: string,
  argv: string[],
  options: O,
  allowPositionals = false,
) {
  try {
    return parseArgs({
      args: argv,
      options: { json: { type: 'boolean', default: false }, ...options },
      allowPositionals,
      strict: true,
    });
  } catch (err) {
    throw new InvalidArgumentError(`berth ${command}: ${errorMessage(err)}`);
  }
}
