/**
 * Whether a process is still there, for tests that check that nothing is left behind. A zombie
 * (exited, not yet reaped) counts as gone: a killed parent's children are reparented to an init
 * that may reap them late, and `kill(pid, 0)` still succeeds on them (stdx's `pidAlive`).
 */
import type { ChildProcess } from 'node:child_process';
import { pidAlive } from '../../services/stdx/index.js';

export { pidAlive };

/** A child of this process: gone once it exited (even unreaped), else as `pidAlive`. */
export function childAlive(p: ChildProcess): boolean {
  if (p.exitCode !== null || p.signalCode !== null || p.pid === undefined) return false;
  return pidAlive(p.pid);
}
