/** Errors from CNI: a plugin's own error (its JSON msg/details) or a config Berth cannot use. */
import { BerthError, type ErrorCode } from '../common/errors.js';

/** CNI's well-known error code for "try again later" (spec, Error section). */
const CNI_TRY_AGAIN_LATER = 11;

/**
 * A CNI plugin failed (or could not be run). The message names the plugin, the command and the
 * network, and carries the plugin's own `msg` and `details` so the user sees the real reason.
 */
export class CniPluginError extends BerthError {
  /** True when the plugin binary was not found: it cannot have changed anything. */
  readonly missingBinary: boolean;
  constructor(
    readonly plugin: string,
    readonly command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION',
    readonly network: string,
    readonly reason: string,
    readonly cniCode?: number,
    options?: { cause?: unknown; missingBinary?: boolean },
  ) {
    const code: ErrorCode = cniCode === CNI_TRY_AGAIN_LATER ? 'unavailable' : 'failed_precondition';
    const suffix = cniCode !== undefined ? ` (CNI error code ${cniCode})` : '';
    super(
      code,
      `CNI plugin "${plugin}" failed ${command} on network "${network}": ${reason}${suffix}`,
      options,
    );
    this.missingBinary = options?.missingBinary ?? false;
  }
}
