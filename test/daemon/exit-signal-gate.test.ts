/** When the exit monitor's signal reaches a stop workflow (src/daemon/exit-signal-gate.ts). */
import { describe, expect, it } from 'vitest';
import { ExitSignalGate } from '../../src/daemon/exit-signal-gate.js';
import type { ExitWaitPhase } from '../../src/workflows/exit-waits.js';

function gateWithLog() {
  const gate = new ExitSignalGate();
  const sent: string[] = [];
  const announce = (workflowId: string, phase: ExitWaitPhase) =>
    gate.sinks.exitWaits.phase.fn({ workflowId } as never, phase);
  const deliver = (workflowId: string) =>
    gate.deliver(workflowId, async () => {
      sent.push(workflowId);
    });
  return { gate, sent, announce, deliver };
}

describe('ExitSignalGate', () => {
  it('sends at once to a stop it has heard nothing from (a run from before a restart)', async () => {
    const { sent, deliver } = gateWithLog();
    await deliver('container:a:stop');
    expect(sent).toEqual(['container:a:stop']);
  });

  it('holds the signal during local steps and sends it when the stop waits durably', async () => {
    const { gate, sent, announce, deliver } = gateWithLog();
    announce('s', 'local');
    await deliver('s');
    expect(sent).toEqual([]);
    expect(gate.size).toEqual({ phases: 1, held: 1 });
    announce('s', 'durable');
    await Promise.resolve();
    expect(sent).toEqual(['s']);
    await deliver('s'); // during the durable wait: at once
    expect(sent).toEqual(['s', 's']);
  });

  it('drops a held signal when the stop finishes, having seen the exit itself, and forgets the stop', async () => {
    const { gate, sent, announce, deliver } = gateWithLog();
    announce('s', 'local');
    await deliver('s');
    announce('s', 'done');
    expect(sent).toEqual([]);
    expect(gate.size).toEqual({ phases: 0, held: 0 });
  });

  it('keeps stops apart, and a refused send of a released signal does not throw', async () => {
    const gate = new ExitSignalGate();
    const announce = (workflowId: string, phase: ExitWaitPhase) =>
      gate.sinks.exitWaits.phase.fn({ workflowId } as never, phase);
    announce('a', 'local');
    announce('b', 'durable');
    let bSent = 0;
    await gate.deliver('a', () => Promise.reject(new Error('workflow execution already completed')));
    await gate.deliver('b', async () => void bSent++);
    expect(bSent).toBe(1);
    announce('a', 'durable'); // releases a's signal, whose refusal is swallowed
    await new Promise((r) => setImmediate(r));
    expect(gate.size).toEqual({ phases: 2, held: 0 });
  });
});
