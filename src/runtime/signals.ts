/**
 * Signal names as images and requests write them (`SIGQUIT`, `quit`, `3`, `RTMIN+3`) in the one
 * form Berth keeps and reports: `SIG` + upper-case name, real-time signals as `SIGRTMIN+n` and
 * `SIGRTMAX-n` (the names runc and crun accept, and CRI's Signal enum spells out).
 */
import { constants } from 'node:os';

/** glibc's SIGRTMIN and SIGRTMAX on Linux (the kernel's 32 and 33 are kept by the C library). */
const RTMIN = 34;
const RTMAX = 64;

const BY_NUMBER = new Map<number, string>();
for (const [name, num] of Object.entries(constants.signals))
  if (!BY_NUMBER.has(num)) BY_NUMBER.set(num, name);

function realTimeName(num: number): string {
  const fromMin = num - RTMIN;
  const fromMax = RTMAX - num;
  if (fromMin === 0) return 'SIGRTMIN';
  if (fromMax === 0) return 'SIGRTMAX';
  return fromMin <= 15 ? `SIGRTMIN+${fromMin}` : `SIGRTMAX-${fromMax}`;
}

/** The canonical name of a signal, or undefined when `text` names none. */
export function canonicalSignal(text: string): string | undefined {
  const s = text.trim().toUpperCase();
  if (/^\d+$/.test(s)) {
    const num = Number(s);
    if (num >= RTMIN && num <= RTMAX) return realTimeName(num);
    return BY_NUMBER.get(num);
  }
  const name = s.startsWith('SIG') ? s : `SIG${s}`;
  const rt = /^SIG(RTMIN|RTMAX)(?:([+-])(\d+))?$/.exec(name);
  if (rt) {
    const offset = Number(rt[3] ?? 0);
    if (rt[1] === 'RTMIN' && rt[2] === '-') return undefined;
    if (rt[1] === 'RTMAX' && rt[2] === '+') return undefined;
    const num = rt[1] === 'RTMIN' ? RTMIN + offset : RTMAX - offset;
    return num >= RTMIN && num <= RTMAX ? realTimeName(num) : undefined;
  }
  return name in constants.signals ? name : undefined;
}
