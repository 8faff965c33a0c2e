/** Every `berth` subcommand, by name. Each command group lives in its own file beside this one. */
import type { Command } from '../command.js';
import { infoCommand } from './info.js';

export const commands: Command[] = [infoCommand];
