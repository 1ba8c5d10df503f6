import type { ArgsSpec } from './args.js';

/** One `ipiscope` subcommand. `run` returns the process exit status. */
export interface Command {
  name: string;
  /** One line for `ipiscope --help`. */
  summary: string;
  /** An example invocation for `--help` and the README. */
  example: string;
  spec: ArgsSpec;
  run(argv: string[]): Promise<number>;
}

/** Writes a line to stdout (the CLI is the only place that prints). */
export function out(line: string): void {
  process.stdout.write(line + '\n');
}

export function err(line: string): void {
  process.stderr.write(line + '\n');
}
