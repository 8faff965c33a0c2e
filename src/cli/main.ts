#!/usr/bin/env node
/** `berth`: the operator's CLI, speaking to berthd over its API socket. */
import { ApiClient, BerthdUnreachableError, DEFAULT_API_SOCKET } from '../api/client.js';
import { BerthError, errorMessage } from '../common/errors.js';
import { commands } from './commands/index.js';
import { renderTable } from './table.js';

/** Exit codes (README): 2 bad invocation, 3 not found, 4 berthd unreachable (only that), 1 anything else. */
const EXIT_BY_CODE: Record<string, number> = { invalid_argument: 2, not_found: 3 };

function usage(): string {
  return [
    'usage: berth [--socket PATH] <command> [flags]',
    '',
    renderTable(
      ['COMMAND', 'DESCRIPTION'],
      commands.map((c) => [c.name, c.summary]),
    ),
    '',
    `The API socket defaults to $BERTH_SOCKET or ${DEFAULT_API_SOCKET}. Every command takes --json.`,
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  let socket = process.env.BERTH_SOCKET ?? DEFAULT_API_SOCKET;
  const args = [...argv];
  while (args[0]?.startsWith('--socket')) {
    const flag = args.shift()!;
    const value = flag.includes('=') ? flag.slice(flag.indexOf('=') + 1) : args.shift();
    if (!value) throw new BerthError('invalid_argument', 'berth: --socket needs a path');
    socket = value;
  }
  const name = args.shift();
  if (!name || name === 'help' || name === '--help' || name === '-h') {
    process.stdout.write(usage() + '\n');
    return name ? 0 : 2;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) throw new BerthError('invalid_argument', `berth: unknown command "${name}" (see berth help)`);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`usage: ${command.usage}\n${command.summary}\n`);
    return 0;
  }
  return command.run(args, {
    client: new ApiClient(socket, command.name),
    out: (t) => process.stdout.write(t + '\n'),
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`berth: ${errorMessage(err).replace(/^berth:\s*/, '')}\n`);
    process.exitCode =
      err instanceof BerthdUnreachableError
        ? 4
        : err instanceof BerthError
          ? (EXIT_BY_CODE[err.code] ?? 1)
          : 1;
  },
);
