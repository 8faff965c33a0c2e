/** The process-wide pino logger; subsystems take a child logger with their name bound. */
import { pino, type Logger, type LevelWithSilent } from 'pino';
import { PinoPretty } from 'pino-pretty';

export type { Logger };

/**
 * `json`: pino's JSON lines on stderr, for a journal or a log shipper. `pretty`: one coloured,
 * readable line per record, for a person at a terminal; formatted in this thread (pino's transport
 * would start a worker thread, about 10 MB, to save a few microseconds per line).
 */
export function createLogger(
  level: LevelWithSilent = 'info',
  name = 'berth',
  format: 'json' | 'pretty' = 'json',
): Logger {
  const options = { name, level, base: { pid: process.pid } };
  if (format === 'pretty') {
    return pino(
      options,
      PinoPretty({
        destination: 2,
        sync: false,
        colorize: true,
        translateTime: 'SYS:HH:MM:ss.l',
        ignore: 'pid,hostname',
      }),
    );
  }
  return pino(options, pino.destination({ fd: 2, sync: false }));
}

/** A logger that discards everything: the default for library classes used alone (tests, tools). */
export const silentLogger: Logger = pino({ level: 'silent' });
