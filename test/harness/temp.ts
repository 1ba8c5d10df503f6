/**
 * Temporary directories of a test file, removed after its last test (a `node:test` `after` hook on
 * the file's root, registered when this module is imported at the file's top level), so that a
 * suite run leaves nothing in the OS temp dir, not even the trace files of a failed test.
 */
import { after } from 'node:test';
import { makeTempDir, removeTempDir } from '../../services/stdx/temp-dir.js';

const dirs: string[] = [];

after(() => {
  for (const d of dirs.splice(0)) removeTempDir(d);
});

export function testTempDir(prefix: string): string {
  const d = makeTempDir(prefix);
  dirs.push(d);
  return d;
}
