/**
 * Output files named on the command line (`--report`, `--record`), checked before any work starts:
 * a run of minutes, or an analysis, must not end in a write that was bound to fail. The directory
 * is the user's to make; it is never created (a recursive mkdir of a path under /proc never ends).
 */
import { closeSync, openSync, rmSync, statSync, type Stats } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UsageError } from '../stdx/index.js';

/**
 * Throws a UsageError naming `flag` and `path` unless `path` can be written: its parent is an
 * existing, writable directory and `path` itself is not a directory. Leaves nothing behind.
 */
export function checkOutputFile(flag: string, path: string): void {
  const dir = dirname(resolve(path));
  const where = `${flag} ${path}`;
  let isDir: boolean;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UsageError(`${where}: the directory ${dir} does not exist; create it first, or give a path in an existing directory`);
    if (code === 'ENOTDIR') throw new UsageError(`${where}: ${dir} is not a directory (a part of it is a file); give a path in an existing directory`);
    throw new UsageError(`${where}: cannot reach the directory ${dir} (${(e as Error).message})`);
  }
  if (!isDir) throw new UsageError(`${where}: ${dir} is not a directory; give a path in an existing directory`);
  let existing: Stats | undefined;
  try {
    existing = statSync(path, { throwIfNoEntry: false });
  } catch (e) {
    throw new UsageError(`${where}: cannot reach it (${(e as Error).message})`);
  }
  if (existing?.isDirectory() === true) throw new UsageError(`${where} is a directory; give a file path`);
  // Permission bits do not say it all (root, read-only mounts, /proc): try, with a name of our own.
  const probe = join(dir, `.${basename(path)}.ipiscope-probe-${process.pid}`);
  let created = false;
  try {
    closeSync(openSync(probe, 'wx'));
    created = true;
    if (existing !== undefined) closeSync(openSync(path, 'r+'));
  } catch (e) {
    throw new UsageError(`${where}: cannot write there (${(e as Error).message}); give a path in a writable directory`);
  } finally {
    if (created) rmSync(probe, { force: true });
  }
}
