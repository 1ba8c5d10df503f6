/**
 * Temporary directories that never outlive the process: made under the OS temp dir, removed by
 * `removeTempDir`, and removed on exit otherwise (an `exit` handler, which also runs when a
 * signal handler ends the process with process.exit: Ctrl-C of a run leaves no directory).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const live = new Set<string>();
let hooked = false;

export function makeTempDir(prefix: string): string {
  if (!hooked) {
    hooked = true;
    process.on('exit', removeAllTempDirs);
  }
  const d = mkdtempSync(join(tmpdir(), prefix));
  live.add(d);
  return d;
}

/** Removes every directory still live (a process about to die by a signal it re-raises, which
 * runs no `exit` handler). The directories stay known: a child that was dying as they went may
 * have made one again (a core opening its record file), and the `exit` handler removes it once
 * more. */
export function removeAllTempDirs(): void {
  for (const d of live) rmSync(d, { recursive: true, force: true });
}

export function removeTempDir(dir: string): void {
  live.delete(dir);
  rmSync(dir, { recursive: true, force: true });
}
