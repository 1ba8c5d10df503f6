/**
 * Temporary directories of a test file, removed after its last test (a `node:test` `after` hook on
 * the file's root, registered when this module is imported at the file's top level), so that a
 * suite run leaves nothing in the OS temp dir, not even the trace files of a failed test.
 */
import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dirs: string[] = [];

after(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

export function testTempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
