/**
 * `ipiscope`: the one command-line entry point. Each subcommand lives in its own module; this
 * file only dispatches and turns user errors into messages and exit statuses.
 */
import { UserError } from '../stdx/index.js';
import type { Command } from './command.js';
import { out, err } from './command.js';
import { litmusCommand } from './cmd-litmus.js';
import { benchCommand } from './cmd-bench.js';
import { simCommand } from './cmd-sim.js';
import { bisectCommand } from './cmd-bisect.js';
import { runCommand } from './cmd-run.js';
import { faultsCommand } from './cmd-faults.js';
import { replayCommand } from './cmd-replay.js';
import { analyzeCommand } from './cmd-analyze.js';

const commands: Command[] = [
  runCommand,
  faultsCommand,
  simCommand,
  litmusCommand,
  analyzeCommand,
  bisectCommand,
  replayCommand,
  benchCommand,
];

export function commandList(): readonly Command[] {
  return commands;
}

function help(): string {
  const lines = [
    'ipiscope: reproduce, trace and explain inter-processor-interrupt races on an emulated',
    'POWER-style SMP machine.',
    '',
    'Usage: ipiscope <command> [options]    (ipiscope <command> --help for its options)',
    '',
    'Commands:',
  ];
  const w = Math.max(...commands.map((c) => c.name.length));
  for (const c of commands) lines.push(`  ${c.name.padEnd(w)}  ${c.summary}`);
  lines.push('', 'Examples:');
  for (const c of commands) lines.push(`  ${c.example}`);
  return lines.join('\n');
}

/** The exit status of a process killed by SIGPIPE (128 + 13), as a shell reports it. */
export const EXIT_BROKEN_PIPE = 141;

function onOutputError(e: NodeJS.ErrnoException): void {
  if (e.code === 'EPIPE') process.exit(EXIT_BROKEN_PIPE);
  throw e;
}

/**
 * A reader that stops early (`ipiscope sim ... | head -1`) closes the pipe, and the next write
 * fails with EPIPE, an unhandled 'error' event with a stack trace. Instead the process exits at
 * once, quietly, with the status of the other commands of a pipeline killed by SIGPIPE; the exit
 * hooks still stop child processes. Called once by the entry point (bin/ipiscope.js).
 */
export function exitQuietlyOnBrokenPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    if (!stream.listeners('error').includes(onOutputError)) stream.on('error', onOutputError);
  }
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    // No command: a usage error, its text where errors go.
    err(help());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    out(help());
    return 0;
  }
  const cmd = commands.find((c) => c.name === name);
  if (cmd === undefined) {
    err(`ipiscope: unknown command '${name}'. Commands: ${commands.map((c) => c.name).join(', ')}.`);
    return 2;
  }
  try {
    return await cmd.run(rest);
  } catch (e) {
    if (e instanceof UserError) {
      err(`ipiscope ${name}: ${e.message}`);
      return 2;
    }
    throw e;
  }
}
