/**
 * The CLI in a child process, as a user runs it while doing something else meanwhile (live fault
 * plans, pausing cores): its output so far, its exit, and waiting for a line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const bin = join(process.cwd(), 'bin', 'ipiscope.js');

export interface RunningCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** The exit code (null: ended by a signal). */
  exited: Promise<number | null>;
  /** Waits until stderr holds `text` (at most `timeoutMs`); says whether it came. */
  stderrHas(text: string, timeoutMs?: number): Promise<boolean>;
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = process.env): RunningCli {
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stderrHas(text: string, timeoutMs = 60_000): Promise<boolean> {
      const t0 = Date.now();
      while (!err.includes(text) && Date.now() - t0 < timeoutMs && child.exitCode === null) await new Promise((res) => setTimeout(res, 100));
      return err.includes(text);
    },
  };
}
