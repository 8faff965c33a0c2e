/** Flag handling shared by scripts/cluster and scripts/node-conformance: exit 2 on bad flags. */
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class Flags<O extends NonNullable<ParseArgsConfig['options']>> {
  constructor(
    private readonly command: string,
    private readonly usage: string,
    private readonly options: O,
  ) {}

  /** Exits 2 naming the problem, with the usage. */
  fail(message: string): never {
    process.stderr.write(`${this.command}: ${message}\n${this.usage}\n`);
    process.exit(2);
  }

  /** The parsed flags; prints the usage and exits 0 on --help (an option the caller lists), 2 on an unknown flag. */
  parse(argv: string[]) {
    try {
      const { values } = parseArgs({
        args: argv,
        options: this.options,
        strict: true,
      });
      if ((values as { help?: boolean }).help) {
        process.stdout.write(`${this.usage}\n`);
        process.exit(0);
      }
      return values;
    } catch (err) {
      return this.fail((err as Error).message);
    }
  }
}
