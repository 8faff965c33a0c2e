/** Human-readable renderings of events and causes, shared by the CLI commands. */
import { describeCaller } from '../common/caller.js';
import type { BerthEvent, Cause } from './model.js';

export function formatCause(c: Cause): string {
  const by = c.caller ? `, asked by ${describeCaller(c.caller)}` : '';
  switch (c.kind) {
    case 'workflow':
      return `workflow ${c.workflowId} step ${c.step} (run ${c.runId})${by}`;
    case 'api':
      return `api ${c.call}${by}`;
    case 'reconciler':
      return `reconciler: ${c.reason}${by}`;
  }
}

export const EVENT_HEADERS = ['SEQ', 'TIME', 'NAMESPACE', 'TOPIC', 'SUBJECT', 'CAUSE'];

export function eventRow(e: BerthEvent): string[] {
  return [String(e.seq), e.time, e.namespace, e.topic, e.subject, formatCause(e.cause)];
}

/** One line per event for streams, where column widths cannot be known in advance. */
export function eventLine(e: BerthEvent): string {
  return `${String(e.seq).padStart(8)}  ${e.time}  ${e.namespace.padEnd(10)}  ${e.topic.padEnd(20)}  ${e.subject}  [${formatCause(e.cause)}]`;
}
