/**
 * Whether a process is still there, for tests that check that nothing is left behind. A zombie
 * (exited, not yet reaped) counts as gone: a killed parent's children are reparented to an init
 * that may reap them late, and `kill(pid, 0)` still succeeds on them.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

export function pidAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // The state follows the command name in parentheses (which may itself hold spaces and parens).
  return stat[stat.lastIndexOf(')') + 2] !== 'Z';
}

/** A child of this process: gone once it exited (even unreaped), else as `pidAlive`. */
export function childAlive(p: ChildProcess): boolean {
  if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return false;
  return pidAlive(p.pid);
}
