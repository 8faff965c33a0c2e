/**
 * The status a remotecommand v4/v5 session ends with, written as JSON on its error channel:
 * a Kubernetes metav1.Status. client-go turns `NonZeroExitCode` with an `ExitCode` cause into
 * an exit error carrying the code (kubectl and crictl report it), Success into nil, and any
 * other Failure into an error with the message.
 */
export interface K8sStatus {
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes: { reason: string; message: string }[] };
}

export function successStatus(): K8sStatus {
  return { metadata: {}, status: 'Success' };
}

export function exitCodeStatus(exitCode: number): K8sStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command, exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

export function internalErrorStatus(message: string): K8sStatus {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${message}`,
    reason: 'InternalError',
    code: 500,
  };
}

/** The JSON client-go decodes; exit codes outside 0..255 do not exist for a process. */
export function encodeStatus(status: K8sStatus): Buffer {
  return Buffer.from(JSON.stringify(status), 'utf8');
}

/**
 * How a session reports its end: `json` (remotecommand v4 and v5) always writes the Status;
 * `v1-text` (the protocols before v4) writes only a failure, as its bare message.
 */
export type StatusFormat = 'json' | 'v1-text';

/** The bytes for the error channel, or undefined when the format says nothing. */
export function encodeStatusAs(format: StatusFormat, status: K8sStatus): Buffer | undefined {
  if (format === 'json') return encodeStatus(status);
  if (status.status === 'Success') return undefined;
  return Buffer.from(status.message ?? 'unknown error', 'utf8');
}
