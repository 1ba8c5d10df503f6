/** Reads litmus files and directories of them, one result per file, never stopping at a bad one. */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { InputError } from '../stdx/index.js';
import type { LitmusTest } from './ast.js';
import { parseLitmus } from './parse.js';

/** A directory tree deeper than this is a symlink loop or a mistake, not a test suite. */
const DIR_DEPTH_MAX = 32;

export interface LoadedLitmus {
  file: string;
  test?: LitmusTest;
  /** The file's text (with `test`): what a distributed run ships to its core processes. */
  text?: string;
  error?: InputError;
}

function errnoCode(e: unknown): string | undefined {
  return e instanceof Error && 'code' in e ? String((e as { code: unknown }).code) : undefined;
}

function describeFsError(path: string, e: unknown): InputError {
  const code = errnoCode(e);
  const detail =
    code === 'ENOENT'
      ? 'no such file or directory; check the path.'
      : code === 'EACCES'
        ? 'permission denied; check the file permissions.'
        : `cannot be read (${e instanceof Error ? e.message : String(e)}).`;
  return new InputError(path, undefined, detail);
}

/** Every `*.litmus` file under `dir`, recursively, in code-unit order of the full path. */
function litmusFilesUnder(dir: string, depth: number, out: string[]): void {
  if (depth > DIR_DEPTH_MAX) {
    throw new InputError(dir, undefined, `directories nest deeper than ${DIR_DEPTH_MAX} levels.`);
  }
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) litmusFilesUnder(path, depth + 1, out);
    else if (entry.name.endsWith('.litmus') && (entry.isFile() || entry.isSymbolicLink())) {
      out.push(path);
    }
  }
}

/**
 * Loads litmus tests from `paths`: a file is read as is (whatever its extension); a directory
 * stands for its `*.litmus` files, recursively, sorted. Each file yields one entry with either
 * `test` or `error`, so a missing or malformed file never stops the others. A directory holding
 * no `*.litmus` file yields one error entry naming it. Paths keep the order given.
 */
export function loadLitmusPaths(paths: string[]): LoadedLitmus[] {
  const results: LoadedLitmus[] = [];
  for (const path of paths) {
    let files: string[];
    try {
      if (statSync(path).isDirectory()) {
        files = [];
        litmusFilesUnder(path, 0, files);
        files.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
        if (files.length === 0) {
          results.push({
            file: path,
            error: new InputError(path, undefined, 'this directory holds no `*.litmus` file.'),
          });
        }
      } else {
        files = [path];
      }
    } catch (e) {
      results.push({ file: path, error: e instanceof InputError ? e : describeFsError(path, e) });
      continue;
    }
    for (const file of files) results.push(loadOne(file));
  }
  return results;
}

function loadOne(file: string): LoadedLitmus {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return { file, error: describeFsError(file, e) };
  }
  try {
    return { file, test: parseLitmus(text, file), text };
  } catch (e) {
    if (e instanceof InputError) return { file, error: e };
    throw e;
  }
}
