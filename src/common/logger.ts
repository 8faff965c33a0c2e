/** The process-wide pino logger; subsystems take a child logger with their name bound. */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export function createLogger(level: LevelWithSilent = 'info', name = 'berth'): Logger {
  return pino({ name, level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that discards everything: the default for library classes used alone (tests, tools). */
export const silentLogger: Logger = pino({ level: 'silent' });
