#!/usr/bin/env node
/** berthd: the node daemon. Exit codes: 0 clean stop, 1 runtime failure, 2 bad invocation. */
import { BerthError, errorMessage } from '../common/errors.js';
import { createLogger } from '../common/logger.js';
import { parseDaemonArgs, USAGE } from './config.js';
import { Daemon } from './daemon.js';

async function main(): Promise<number> {
  let config;
  try {
    config = parseDaemonArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`berthd: ${errorMessage(err)}\n`);
    return 2;
  }
  if (config === 'help') {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  const log = createLogger(config.logLevel, 'berthd', config.logFormat);
  let daemon: Daemon;
  try {
    daemon = await Daemon.start(config, log);
  } catch (err) {
    log.flush();
    process.stderr.write(`berthd: ${errorMessage(err).split('\n')[0]}\n`);
    return err instanceof BerthError && err.code === 'invalid_argument' ? 2 : 1;
  }
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) {
        log.warn({ signal }, 'second signal: exiting without a clean stop');
        process.exit(1);
      }
      signalled = true;
      log.info({ signal }, 'stopping');
      daemon.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, 'stop failed');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

main().then((code) => {
  // Native handles (the Temporal runtime) can keep the loop alive after a clean stop.
  setTimeout(() => process.exit(code), 100).unref();
  process.exitCode = code;
});
