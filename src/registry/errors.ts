/** Registry errors: they carry the HTTP status and the registry's own error message. */
import { BerthError, type ErrorCode } from '../common/errors.js';

/** One entry of the distribution spec's error body `{"errors":[{code,message,detail}]}`. */
export interface RegistryErrorDetail {
  code: string;
  message: string;
}

/** An HTTP-level failure from a registry, mapped to a Berth error code. */
export class RegistryError extends BerthError {
  readonly status: number | undefined;
  readonly registryErrors: RegistryErrorDetail[];
  constructor(
    code: ErrorCode,
    message: string,
    opts: { status?: number; registryErrors?: RegistryErrorDetail[]; cause?: unknown } = {},
  ) {
    super(code, message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.status = opts.status;
    this.registryErrors = opts.registryErrors ?? [];
  }
}

/** Maps an HTTP status to the Berth error code a caller should act on. */
export function codeForStatus(status: number): ErrorCode {
  if (status === 401 || status === 403) return 'permission_denied';
  if (status === 404) return 'not_found';
  if (status === 429 || status >= 500) return 'unavailable';
  return 'failed_precondition';
}

/** Extracts the registry's messages from an error body (JSON per the spec, else raw text). */
export function parseRegistryErrors(body: string): RegistryErrorDetail[] {
  try {
    const parsed = JSON.parse(body) as {
      errors?: { code?: unknown; message?: unknown }[];
      details?: unknown;
    };
    if (Array.isArray(parsed.errors)) {
      return parsed.errors.map((e) => ({ code: String(e.code ?? ''), message: String(e.message ?? '') }));
    }
    if (typeof parsed.details === 'string') return [{ code: '', message: parsed.details }];
  } catch {
    // Not JSON: fall through to the raw text.
  }
  const text = body.trim().slice(0, 300);
  return text ? [{ code: '', message: text }] : [];
}

export function describeRegistryErrors(errors: RegistryErrorDetail[]): string {
  return errors.map((e) => (e.code ? `${e.code}: ${e.message}` : e.message)).join('; ');
}
