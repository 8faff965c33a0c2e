/** Every `berth` subcommand, by name. Each command group lives in its own file beside this one. */
import type { Command } from '../command.js';
import { infoCommand } from './info.js';

export const commands: Command[] = [infoCommand];
commands.push((await import('./events.js')).eventsCommand);
commands.push((await import('./audit.js')).auditCommand);
commands.push((await import('./replay.js')).replayCommand);
commands.push((await import('./explain.js')).explainCommand);
commands.push(...(await import('./pods.js')).podCommands);
commands.push((await import('./pull.js')).pullCommand, ...(await import('./images.js')).imageCommands);
commands.push(
  ...(await import('./containers.js')).containerCommands,
  ...(await import('./run.js')).runCommands,
);
commands.push((await import('./fleet.js')).fleetCommand);
