/**
 * Whether a process is still there (Linux: /proc). A zombie (exited, not yet reaped) counts as
 * gone: it runs nothing and writes nothing any more, and `kill(pid, 0)` still succeeds on it. Where
 * /proc cannot be read the process counts as gone too.
 */
import { readFileSync } from 'node:fs';

export function pidAlive(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return false;
  }
  // The state follows the command name in parentheses (which may itself hold spaces and parens).
  const state = stat.charAt(stat.lastIndexOf(')') + 2);
  return state !== 'Z' && state !== 'X';
}
