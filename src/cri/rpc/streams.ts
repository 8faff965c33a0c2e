/** Checks shared by Exec and Attach: the stream combination kubelet's streaming server accepts. */
import { invalid } from '../validate.js';

export function validateStreams(s: { stdin: boolean; stdout: boolean; stderr: boolean; tty: boolean }): void {
  if (!s.stdin && !s.stdout && !s.stderr)
    throw invalid('stdin/stdout/stderr', 'are all false: one must be set');
  // With a tty, stderr is merged into stdout by the terminal: a separate stream cannot exist.
  if (s.tty && s.stderr) throw invalid('stderr', 'cannot be set together with tty');
}
